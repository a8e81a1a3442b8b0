import { createHash } from 'node:crypto';
import { Cron } from 'croner';
import { z } from 'zod';
import { ConfigError } from '../errors';
import type { JsonValue } from '../json';

/** A recurring task: what the config's `schedules` holds, and what a Scheduler is given in code. */
export interface ScheduleDefinition {
  /** Unique among the schedules; part of every tick's task id. Letters, digits, `_ . -`. */
  name: string;
  /**
   * A cron expression: 5 fields (minute precision), 6 (a leading seconds field) or 7 (a trailing
   * year), or a nickname (`@hourly`, `@daily`, `@weekly`, `@monthly`, `@yearly`).
   */
  cron: string;
  /** A registered task's name, or a callback's (`shout`, `CallbackTask:shout`). */
  task: string;
  /** The task's params (a callback's argument); the same for every tick. */
  params?: JsonValue;
  /** The IANA time zone the expression is read in (`Europe/Paris`); default UTC, the same on every host. */
  timezone?: string;
  /** Else the task's own queue choice (its hook, the associations, the default queue). */
  queue?: string;
  /**
   * The latest tick missed while no scheduler ran (every worker down) is run once at start-up;
   * default false: it is skipped. Older missed ticks are never run.
   */
  catchUp?: boolean;
}

const NAME = /^[A-Za-z][\w.-]{0,99}$/;
/** Task ids are at most 64 characters: `cron:` + key + `@` + a 20-character UTC time. */
const MAX_KEY_CHARS = 64 - 'cron:'.length - 1 - '2026-01-01T00:00:00Z'.length;

/** Why `timezone` is not one this Node.js knows, or null. */
function timezoneProblem(timezone: string): string | null {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: timezone });
    return null;
  } catch {
    return `unknown time zone "${timezone}" (an IANA name such as Europe/Paris or America/New_York)`;
  }
}

/** The parsed expression, or the parser's reason for refusing it. */
function parseCron(expression: string, timezone: string): Cron | string {
  let cron: Cron;
  try {
    cron = new Cron(expression, { timezone });
  } catch (error) {
    return `invalid cron expression "${expression}": ${(error as Error).message.replace(/^CronPattern: /, '')}`;
  }
  // croner also takes a single date ("2026-01-01T00:00"): a schedule recurs.
  if (cron.getOnce() !== null) return `invalid cron expression "${expression}": a date, not a recurring expression`;
  if (cron.nextRun(new Date(0)) === null) return `cron expression "${expression}" never matches`;
  return cron;
}

/** The config's `schedules[i]`, checked field by field (the cron and time zone included). */
export const scheduleSchema = z
  .object({
    name: z.string().regex(NAME, 'a schedule name is letters, digits, _ . - (starting with a letter, at most 100)'),
    cron: z.string().min(1),
    task: z.string().min(1),
    params: z.json().optional(),
    timezone: z.string().min(1).optional(),
    queue: z.string().min(1).optional(),
    catchUp: z.boolean().optional(),
  })
  .strict()
  .superRefine((value, ctx) => {
    const zone = value.timezone === undefined ? null : timezoneProblem(value.timezone);
    if (zone) {
      ctx.addIssue({ code: 'custom', path: ['timezone'], message: `schedule "${value.name}": ${zone}` });
      return;
    }
    const cron = parseCron(value.cron, value.timezone ?? 'UTC');
    if (typeof cron === 'string') ctx.addIssue({ code: 'custom', path: ['cron'], message: `schedule "${value.name}": ${cron}` });
  });

/**
 * Checks what a zod schema cannot see alone: names given twice, queues that do not exist. `where`
 * names the list in messages (`taskq.config.json: schedules`).
 */
export function checkScheduleNames(schedules: readonly ScheduleDefinition[], queueNames: readonly string[] | undefined, where: string): void {
  const seen = new Set<string>();
  schedules.forEach((schedule, i) => {
    if (seen.has(schedule.name)) throw new ConfigError(`${where}[${i}].name: schedule "${schedule.name}" is defined twice`);
    seen.add(schedule.name);
    if (queueNames && schedule.queue !== undefined && !queueNames.includes(schedule.queue)) {
      throw new ConfigError(`${where}[${i}].queue: schedule "${schedule.name}": unknown queue "${schedule.queue}" (queues: ${queueNames.join(', ')})`);
    }
  });
}

/** A checked schedule: its tick times and the task id of each tick. */
export class Schedule {
  readonly name: string;
  readonly cron: string;
  readonly task: string;
  readonly params: JsonValue | undefined;
  readonly timezone: string;
  readonly queue: string | undefined;
  readonly catchUp: boolean;
  private readonly expression: Cron;
  /** The tick ids' `cron:<key>@` prefix. */
  readonly idPrefix: string;

  /** `where` names the definition in messages (`schedules[2]`). */
  constructor(definition: ScheduleDefinition, where = 'schedule') {
    const parsed = scheduleSchema.safeParse(definition);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      const field = issue.path.length > 0 ? `.${issue.path.join('.')}` : '';
      throw new ConfigError(`${where}${field}: ${issue.message}`);
    }
    this.name = definition.name;
    this.cron = definition.cron;
    this.task = definition.task;
    this.params = definition.params;
    this.timezone = definition.timezone ?? 'UTC';
    this.queue = definition.queue;
    this.catchUp = definition.catchUp ?? false;
    this.expression = parseCron(this.cron, this.timezone) as Cron;
    // A long name keeps its start, readable in the task log, and a hash that keeps it unique.
    const key = this.name.length <= MAX_KEY_CHARS ? this.name : `${this.name.slice(0, MAX_KEY_CHARS - 9)}~${createHash('sha256').update(this.name).digest('hex').slice(0, 8)}`;
    this.idPrefix = `cron:${key}@`;
  }

  /** The first tick strictly after `after`, or null when the expression has no more. */
  nextTick(after: Date): Date | null {
    return this.expression.nextRun(after);
  }

  /** The next `n` ticks strictly after `after`. */
  nextTicks(n: number, after: Date): Date[] {
    return this.expression.nextRuns(n, after);
  }

  /** The latest tick at or before `at`, or null. */
  lastTick(at: Date): Date | null {
    // croner's previousRuns looks strictly before its reference (and keeps a tick earlier in the
    // reference's own second): one ms later makes a tick at exactly `at` count.
    return this.expression.previousRuns(1, new Date(at.getTime() + 1))[0] ?? null;
  }

  /**
   * The task id of the tick at `tick`: one row per schedule and tick in the task log, the same
   * on every host, so a second enqueue of a tick finds the first.
   */
  taskIdOf(tick: Date): string {
    return `${this.idPrefix}${tick.toISOString().replace(/\.\d{3}Z$/, 'Z')}`;
  }

  /** The tick a task id of this schedule stands for, or null for any other id. */
  tickOf(taskId: string): Date | null {
    if (!taskId.startsWith(this.idPrefix)) return null;
    const at = new Date(taskId.slice(this.idPrefix.length));
    return Number.isNaN(at.getTime()) ? null : at;
  }
}
