import type { JsonValue } from './json';
import type { Logger } from './logger';
import type { ParamsSchema } from './paramsSchema';
import type { Report } from './report';
import { newTaskId } from './taskId';

/** What a task's `run` may return: a Report, any JSON value, or nothing. Throwing fails the task. */
export type TaskResult = Report | JsonValue | void;

/** How long to wait before a failed attempt runs again. A number is a fixed delay in ms. */
export type Backoff = number | { type: 'fixed' | 'exponential'; delay: number; maxDelay?: number };

export interface TaskMeta {
  id?: string;
  label?: string;
  owner?: string | null;
  createdAt?: Date;
  parentId?: string | null;
}

/** Handed to `run`: who the task is, how to report progress, and how to notice cancellation. */
export interface TaskContext {
  readonly taskId: string;
  /** 1 on the first run, 2 on the first retry or redelivery, ... */
  readonly attempt: number;
  /** Aborted when the task times out, is cancelled by force, or its worker loses the task's lease. */
  readonly signal: AbortSignal;
  readonly logger: Logger;
  /** The result of the previous task of a chain, when there is one. */
  readonly previousResult?: JsonValue;
  /** Records a progress value (a fraction, a count, a note) in the task log. */
  progress(value: JsonValue): Promise<void>;
  /** Enqueues a child task: this task ends `child_running` until every child has ended. */
  enqueueChild(task: AbstractTask<object>, label?: string): Promise<AbstractTask<object>>;
}

/** Marks task classes across copies of the module (a task module may resolve its own `taskq`). */
export const TASK_CLASS_MARK: unique symbol = Symbol.for('taskq.AbstractTask') as never;

/**
 * A unit of background work. Subclass it, give it typed params, implement `run`.
 * Its static fields are the defaults of every enqueue of it.
 */
export abstract class AbstractTask<P extends object = Record<string, JsonValue>> {
  static readonly [TASK_CLASS_MARK] = true;
  /** Stable name stored in messages; default: the class name. */
  static taskName?: string;
  /** How many times a failing run is tried in all (1: no retry). */
  static maxAttempts = 1;
  /**
   * Runs that never finished (their worker died or lost the lease) that are started again on top
   * of maxAttempts, as BullMQ's maxStalledCount. A task that keeps killing its worker then fails
   * instead of looping: it is started at most maxAttempts + maxStalls times.
   */
  static maxStalls = 1;
  static backoff: Backoff = { type: 'exponential', delay: 1000, maxDelay: 60_000 };
  /** Milliseconds a run may take before it fails with a timeout; none by default. */
  static timeout?: number;
  /**
   * At most this many of this task run at once across every worker sharing the task log (an
   * export that loads the database); the others wait. The dispatcher's maxConcurrent wins.
   */
  static maxConcurrent?: number;
  /**
   * Optional: a schema of the params (zod 4, or any Standard Schema v1), checked at every enqueue
   * before anything is written; a refusal is a TaskParamsError naming each field.
   */
  static params?: ParamsSchema;

  readonly id: string;
  label: string;
  owner: string | null;
  readonly createdAt: Date;
  parentId: string | null;
  protected params: P;
  private enqueued = false;

  constructor(params: P, meta: TaskMeta = {}) {
    this.params = params;
    this.id = meta.id ?? newTaskId();
    this.label = meta.label ?? '';
    this.owner = meta.owner ?? null;
    this.createdAt = meta.createdAt ?? new Date();
    this.parentId = meta.parentId ?? null;
  }

  abstract run(ctx: TaskContext): Promise<TaskResult> | TaskResult;

  /** Override to choose the queue from the params at enqueue time; wins over the associations. */
  getQueueName?(params: P): string | undefined;

  /**
   * Optional: the task's message group on an SQS FIFO queue (tasks of a group run one at a time,
   * in order); undefined for the default, the task's name. The enqueue option groupId wins.
   */
  getMessageGroupId?(params: P): string | undefined;

  /** The registered name of this task's class. */
  get name(): string {
    return taskNameOf(this.constructor as TaskClass);
  }

  getParameter<K extends keyof P>(key: K): P[K] {
    return this.params[key];
  }

  setParameter<K extends keyof P>(key: K, value: P[K]): this {
    this.params[key] = value;
    return this;
  }

  getParameters(): Readonly<P> {
    return this.params;
  }

  /** The name the task log shows: the task name (a callback's task adds the callback's). */
  get logName(): string {
    return this.name;
  }

  /** Keys looked up in the associations table, most specific first. */
  associationKeys(): string[] {
    return [this.name];
  }

  isEnqueued(): boolean {
    return this.enqueued;
  }

  /** @internal set by the dispatcher once the task is stored. */
  markEnqueued(): void {
    this.enqueued = true;
  }
}

/** A task class: what the registry holds and what messages are decoded into. */
export interface TaskClass {
  new (params: never, meta?: TaskMeta): AbstractTask<object>;
  readonly taskName?: string;
  readonly maxAttempts?: number;
  readonly maxStalls?: number;
  readonly backoff?: Backoff;
  readonly timeout?: number;
  readonly maxConcurrent?: number;
  readonly params?: ParamsSchema;
}

export function taskNameOf(cls: TaskClass): string {
  return Object.prototype.hasOwnProperty.call(cls, 'taskName') && cls.taskName ? cls.taskName : cls.name;
}

export function isTaskClass(value: unknown): value is TaskClass {
  return (
    typeof value === 'function' &&
    (value as unknown as Record<symbol, unknown>)[TASK_CLASS_MARK] === true &&
    typeof (value.prototype as { run?: unknown } | undefined)?.run === 'function'
  );
}

/** Delay before attempt `attempt + 1`, after `attempt` failed. */
export function backoffDelay(backoff: Backoff | undefined, attempt: number): number {
  if (backoff === undefined) return 0;
  if (typeof backoff === 'number') return Math.max(0, backoff);
  const base = Math.max(0, backoff.delay);
  const delay = backoff.type === 'fixed' ? base : base * 2 ** Math.max(0, attempt - 1);
  return backoff.maxDelay !== undefined ? Math.min(delay, backoff.maxDelay) : delay;
}

export function isBackoff(value: unknown): value is Backoff {
  if (typeof value === 'number') return Number.isFinite(value) && value >= 0;
  if (typeof value !== 'object' || value === null) return false;
  const b = value as { type?: unknown; delay?: unknown; maxDelay?: unknown };
  return (b.type === 'fixed' || b.type === 'exponential') && typeof b.delay === 'number' && b.delay >= 0 && (b.maxDelay === undefined || (typeof b.maxDelay === 'number' && b.maxDelay >= 0));
}
