import type { Knex } from 'knex';
import { ConfigError } from './errors';
import type { JsonValue } from './json';
import { MAX_PREREQUISITES, PREREQUISITE_FAILURE_ACTIONS, type PrerequisiteFailureAction } from './prerequisites';
import { type AbstractTask, type Backoff, type TaskClass, isBackoff, taskNameOf } from './task';

export interface EnqueueOptions {
  label?: string;
  /** Who the task is for (a user id): stored in the task log, filterable. */
  owner?: string;
  /** Not run before this many ms from now. */
  delay?: number;
  /** Not run before this time. */
  runAt?: Date;
  maxAttempts?: number;
  /** Delay before a failed attempt runs again; else the task class's. */
  backoff?: Backoff;
  /** Ms a run may take. */
  timeout?: number;
  /** Wins over the task's getQueueName hook and the associations. */
  queue?: string;
  /**
   * The message group on an SQS FIFO queue: a group's tasks run one at a time, in order. Else the
   * task's getMessageGroupId(params), else its name. Other brokers ignore it.
   */
  groupId?: string;
  /**
   * The caller's open transaction on the queue's database (a knex transaction, or a `pg`
   * client inside BEGIN): the task is written in it, so it exists if and only if that transaction
   * commits. Only for queues on the `rds` broker; the log entry goes into the transaction too when
   * the task log is on the same database, else the worker that takes the task writes it.
   */
  transaction?: EnqueueTransaction;
  /** @internal the result handed to the task as ctx.previousResult. */
  previousResult?: JsonValue;
  /**
   * Unique tasks: while a task enqueued with this key is pending (enqueued, not yet taken by a
   * worker), another enqueue with it makes no new task: it returns that one (the task object
   * given gets its id; `dispatcher.enqueueUnique` also says which happened). One task at a time.
   */
  uniqueKey?: string;
  /** With uniqueKey: a pending task of the key gets this task's params and run time (delay, runAt) instead. */
  replace?: boolean;
  /**
   * Prerequisites: the ids of tasks (already enqueued) that must end before this one starts. It
   * waits, enqueued, until they completed; their results are its ctx.previousResult (the one
   * result, or an array in this order). See onPrerequisiteFailure for when one does not complete.
   */
  after?: readonly string[];
  /**
   * When a prerequisite fails, is cancelled, or is archived unfinished: 'cancel' this task
   * (default) or 'fail' it, each with a report naming the prerequisite, or 'run' it anyway once
   * every prerequisite has ended.
   */
  onPrerequisiteFailure?: PrerequisiteFailureAction;
  /** @internal run only when a prerequisite did not complete (a batch's onFailure task). */
  onlyOnPrerequisiteFailure?: true;
}

/** A knex transaction, or a client with `pg`'s query(text, values) (a PoolClient inside BEGIN). */
export type EnqueueTransaction = Knex.Transaction | { query(text: string, values?: unknown[]): Promise<unknown> };

/** What one task's message carries, from the options or else the task class's static defaults. */
export interface TaskSettings {
  maxAttempts: number;
  timeout: number | null;
  /** Only when given as an option: otherwise the worker applies the class's own at retry time. */
  backoff?: Backoff;
}

/** setTimeout fires at once, with a warning, past 2^31 - 1 ms: a longer timeout would fail every run. */
const MAX_TIMEOUT_MS = 2 ** 31 - 1;
/** The latest time a Date can hold (and a SQL broker's run-at column). */
const MAX_DATE_MS = 8.64e15;
/** The task log's label and owner columns (varchar(255) on PostgreSQL and MySQL). */
const MAX_TEXT_CHARS = 255;
/** The task log's id column, and what the message decoder accepts. */
const MAX_ID_CHARS = 64;

/** Tells what is wrong with a (defined) value, as the end of "option X ...", or null when it is fine. */
type Check = (value: unknown) => string | null;

const isNumber = (value: unknown): value is number => typeof value === 'number';
const finite = (value: unknown): boolean => isNumber(value) && Number.isFinite(value) && value >= 0;

/** A Date of any realm (structuredClone and worker threads make Dates that fail instanceof). */
const isDate = (value: unknown): value is Date => value instanceof Date || Object.prototype.toString.call(value) === '[object Date]';

const text: Check = (value) =>
  typeof value === 'string' && (value.length <= MAX_TEXT_CHARS || [...value].length <= MAX_TEXT_CHARS) ? null : `must be a string of at most ${MAX_TEXT_CHARS} characters`;

const maxAttempts: Check = (value) => (Number.isInteger(value) && (value as number) >= 1 ? null : 'must be an integer >= 1');

const timeout: Check = (value) => (isNumber(value) && value > 0 && value <= MAX_TIMEOUT_MS ? null : `must be a positive number of ms (at most ${MAX_TIMEOUT_MS}, about 24.8 days)`);

function onlyBackoffKeys(value: object): boolean {
  for (const key in value) if (key !== 'type' && key !== 'delay' && key !== 'maxDelay') return false;
  return true;
}
const backoff: Check = (value) => {
  const ok =
    isBackoff(value) &&
    (typeof value === 'number' ? Number.isFinite(value) : finite(value.delay) && (value.maxDelay === undefined || finite(value.maxDelay)) && onlyBackoffKeys(value));
  return ok ? null : 'must be a delay in ms >= 0 or { type: "fixed" | "exponential", delay, maxDelay? } with finite delays >= 0';
};

/** SQS's rule for a MessageGroupId: 1 to 128 printable ASCII characters. */
export function checkGroupId(value: unknown): string | null {
  return typeof value === 'string' && /^[!-~]{1,128}$/.test(value) ? null : 'must be 1 to 128 printable ASCII characters (no spaces)';
}

/** Every enqueue option and its check. Typed so that an option added to EnqueueOptions needs one here. */
const OPTION_CHECKS: { readonly [K in keyof Required<EnqueueOptions>]: Check } = {
  label: text,
  owner: text,
  delay: (value) => (finite(value) ? null : 'must be a number of ms >= 0'),
  runAt: (value) => (isDate(value) && !Number.isNaN(value.getTime()) ? null : 'must be a valid Date'),
  maxAttempts,
  backoff,
  timeout,
  queue: (value) => (typeof value === 'string' && value !== '' ? null : 'must be a non-empty string'),
  groupId: (value) => checkGroupId(value),
  transaction: (value) =>
    (typeof value === 'function' || typeof value === 'object') && value !== null && (typeof (value as { raw?: unknown }).raw === 'function' || typeof (value as { query?: unknown }).query === 'function')
      ? null
      : 'must be a knex transaction or a pg client (with a query method)',
  previousResult: () => null,
  uniqueKey: (value) => (typeof value === 'string' && value !== '' && !text(value) ? null : `must be a non-empty string of at most ${MAX_TEXT_CHARS} characters`),
  replace: (value) => (typeof value === 'boolean' ? null : 'must be true or false'),
  after: (value) =>
    Array.isArray(value) && value.length >= 1 && value.length <= MAX_PREREQUISITES && value.every((id) => typeof id === 'string' && id !== '' && id.length <= MAX_ID_CHARS) && new Set(value).size === value.length
      ? null
      : `must be an array of 1 to ${MAX_PREREQUISITES} distinct task ids (strings of 1 to ${MAX_ID_CHARS} characters)`,
  onPrerequisiteFailure: (value) => ((PREREQUISITE_FAILURE_ACTIONS as readonly unknown[]).includes(value) ? null : `must be ${PREREQUISITE_FAILURE_ACTIONS.map((action) => JSON.stringify(action)).join(', ')}`),
  onlyOnPrerequisiteFailure: (value) => (value === true ? null : 'must be true when given'),
};

/** Internal options, accepted but not listed to users. */
const INTERNAL_OPTIONS = new Set(['previousResult', 'onlyOnPrerequisiteFailure']);
const KNOWN_OPTIONS = Object.keys(OPTION_CHECKS).filter((key) => !INTERNAL_OPTIONS.has(key));

/** For a task class's static maxStalls (its maxAttempts, backoff and timeout are checked as the options). */
const maxStalls: Check = (value) => (Number.isInteger(value) && (value as number) >= 0 ? null : 'must be an integer >= 0');

/**
 * Checks enqueue options, the same for every broker, before anything is written: each option's
 * type and range, no unknown option (a misspelled one would be silently ignored), runAt and delay
 * not together, and, given the dispatcher's queues, that `queue` names one of them. Throws a
 * ConfigError naming the option; returns the options as they are.
 */
export function checkEnqueueOptions(options: unknown, queues?: ReadonlyMap<string, unknown>): EnqueueOptions {
  if (typeof options !== 'object' || options === null || Array.isArray(options) || isDate(options)) {
    throw new ConfigError(`enqueue options must be an object, got ${describe(options)}`);
  }
  const record = options as Record<string, unknown>;
  for (const key of Object.keys(record)) {
    if (!Object.prototype.hasOwnProperty.call(OPTION_CHECKS, key)) {
      throw new ConfigError(`unknown enqueue option ${JSON.stringify(key)} (options: ${KNOWN_OPTIONS.join(', ')})`);
    }
    const value = record[key];
    if (value === undefined) continue;
    const problem = OPTION_CHECKS[key as keyof EnqueueOptions](value);
    if (problem) throw new ConfigError(`enqueue option ${key} ${problem}, got ${describe(value)}`);
  }
  const checked = record as EnqueueOptions;
  if (checked.runAt !== undefined && checked.delay !== undefined) {
    throw new ConfigError('enqueue options runAt and delay cannot be used together: runAt is a time, delay a wait from now');
  }
  if (checked.delay !== undefined && Date.now() + checked.delay > MAX_DATE_MS) {
    throw new ConfigError(`enqueue option delay is too large: ${describe(checked.delay)} ms from now is past the latest time a Date can hold`);
  }
  if (checked.onPrerequisiteFailure !== undefined && checked.after === undefined) {
    throw new ConfigError('enqueue option onPrerequisiteFailure goes with after (the prerequisites)');
  }
  if (checked.replace !== undefined && checked.uniqueKey === undefined) {
    throw new ConfigError('enqueue option replace goes with uniqueKey: it replaces the pending task of that key');
  }
  if (checked.uniqueKey !== undefined && checked.transaction !== undefined) {
    throw new ConfigError('enqueue options uniqueKey and transaction cannot be used together: the key is checked and held outside your transaction');
  }
  if (checked.queue !== undefined && queues && !queues.has(checked.queue)) {
    throw new ConfigError(`enqueue option queue names unknown queue ${JSON.stringify(checked.queue)} (queues: ${[...queues.keys()].join(', ')})`);
  }
  return checked;
}

/**
 * The values one task's message carries: each option, else its class's static default. Checks
 * the class defaults actually used (a `static timeout = 0` is as bad as a `timeout: 0` option),
 * and what the task object itself brings (its id, createdAt, label and owner, from its
 * constructor's meta), so that no broker, and no worker decoding the message, refuses it later.
 * `options` must have passed checkEnqueueOptions.
 */
export function taskSettings(task: AbstractTask<object>, options: EnqueueOptions): TaskSettings {
  const cls = task.constructor as TaskClass;
  // Plain reads and direct calls: this runs on every enqueue (the sync queue's hot path).
  if (options.maxAttempts === undefined && cls.maxAttempts !== undefined) checkStatic(cls, 'maxAttempts', cls.maxAttempts, maxAttempts);
  if (options.timeout === undefined && cls.timeout !== undefined) checkStatic(cls, 'timeout', cls.timeout, timeout);
  if (options.backoff === undefined && cls.backoff !== undefined) checkStatic(cls, 'backoff', cls.backoff, backoff);
  if (cls.maxStalls !== undefined) checkStatic(cls, 'maxStalls', cls.maxStalls, maxStalls);
  if (typeof task.id !== 'string' || task.id === '' || task.id.length > MAX_ID_CHARS) badTask(task, 'id', `must be a non-empty string of at most ${MAX_ID_CHARS} characters`, task.id);
  if (!isDate(task.createdAt) || Number.isNaN(task.createdAt.getTime())) badTask(task, 'createdAt', 'must be a valid Date', task.createdAt);
  if (options.label === undefined && text(task.label)) badTask(task, 'label', `must be a string of at most ${MAX_TEXT_CHARS} characters`, task.label);
  if (options.owner === undefined && task.owner !== null && text(task.owner)) badTask(task, 'owner', `must be null or a string of at most ${MAX_TEXT_CHARS} characters`, task.owner);
  const settings: TaskSettings = { maxAttempts: options.maxAttempts ?? cls.maxAttempts ?? 1, timeout: options.timeout ?? cls.timeout ?? null };
  if (options.backoff !== undefined) settings.backoff = options.backoff;
  return settings;
}

function badTask(task: AbstractTask<object>, field: string, problem: string, value: unknown): never {
  throw new ConfigError(`task ${JSON.stringify(task.name)}: ${field} ${problem}, got ${describe(value)}`);
}

function checkStatic(cls: TaskClass, field: keyof TaskClass, value: unknown, check: Check): void {
  const problem = check(value);
  if (problem) throw new ConfigError(`task ${JSON.stringify(taskNameOf(cls))}: static ${field} ${problem}, got ${describe(value)}`);
}

/** A value as an error message shows it: short, one line, NaN and Infinity as themselves. */
function describe(value: unknown, depth = 0): string {
  if (typeof value === 'string') {
    if (value.length <= 40) return JSON.stringify(value);
    const chars = [...value];
    return chars.length <= 40 ? JSON.stringify(value) : `${JSON.stringify(`${chars.slice(0, 40).join('')}…`)} (${chars.length} characters)`;
  }
  if (typeof value === 'number') return Object.is(value, -0) ? '-0' : String(value);
  if (typeof value === 'bigint') return `${value}n`;
  if (typeof value === 'function') return 'a function';
  if (typeof value !== 'object' || value === null) return String(value);
  if (isDate(value)) return Number.isNaN(value.getTime()) ? 'an invalid Date' : `Date ${value.toISOString()}`;
  if (Array.isArray(value)) return 'an array';
  if (depth > 0) return '{…}';
  const entries = Object.entries(value);
  const shown = entries.slice(0, 5).map(([key, v]) => `${key}: ${describe(v, depth + 1)}`);
  if (entries.length > shown.length) shown.push('…');
  return shown.length ? `{ ${shown.join(', ')} }` : '{}';
}
