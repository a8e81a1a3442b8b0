import { CallbackTask } from '../callbackTask';
import { ConfigError } from '../errors';
import { isJsonObject, type JsonValue } from '../json';
import type { Logger } from '../logger';
import { validateParams } from '../paramsSchema';
import type { QueueDispatcher } from '../queueDispatcher';
import type { AbstractTask, TaskClass, TaskMeta } from '../task';
import { TaskLogFilter } from '../taskLog/taskLogFilter';
import type { TaskLogEntry } from '../taskLog/taskLogEntry';
import { checkTaskParams } from '../taskParams';
import { checkScheduleNames, Schedule, type ScheduleDefinition } from './schedule';

export interface SchedulerOptions {
  logger?: Logger;
  /** Where the definitions come from, prefixed to error messages (the config file). */
  source?: string;
}

/** What `describe` tells of a schedule (`taskq schedules`). */
export interface ScheduleInfo {
  name: string;
  cron: string;
  timezone: string;
  task: string;
  /** The queue its ticks go to. */
  queue: string;
  catchUp: boolean;
  /** The next ticks, soonest first (none when the expression has no more). */
  nextRuns: Date[];
  /** The latest tick in the task log, whoever enqueued it. */
  lastTick: { at: Date; taskId: string; status: TaskLogEntry['status'] } | null;
}

/** What one tick's enqueue came to: this scheduler wrote it, or another had (or its entry exists). */
export type TickOutcome = 'enqueued' | 'exists';

/**
 * A tick later than this is not enqueued by a scheduler that wakes late (the event loop blocked,
 * the database down, the clock jumping forward): past it, the tick counts as missed.
 */
const LATE_WINDOW_MS = 60_000;
/** The longest sleep: a clock that jumps is noticed within it. */
const MAX_SLEEP_MS = 30_000;
/** Waits before enqueueing a tick again after a failure: doubling from the first to the last. */
const RETRY_FIRST_MS = 250;
const RETRY_MAX_MS = 5_000;
/** A clock that went back by more than this resets the cursors (its ticks are found again in the log). */
const CLOCK_BACK_MS = 1_000;

interface Cursor {
  /** Ticks at or before this time were enqueued (by this scheduler or another). */
  doneUpTo: number;
  /** Failures in a row of the next tick's enqueue, and when to try again. */
  failures: number;
  retryAt: number;
}

/**
 * Enqueues recurring tasks on their cron ticks. Every worker may run one (a Worker does, given
 * `schedules`): each tick is enqueued under a task id made of the schedule's name and the tick's
 * time, so however many schedulers, on however many hosts, enqueue a tick, the task log holds one
 * entry for it and its claim lets one run. Nothing is kept besides the task log.
 */
export class Scheduler {
  readonly schedules: readonly Schedule[];
  private readonly logger: Logger;
  private readonly where: string;
  private readonly cursors = new Map<Schedule, Cursor>();
  private timer?: NodeJS.Timeout;
  private wakeUp?: Promise<void>;
  private started = false;
  private stopped = false;

  constructor(
    private readonly dispatcher: QueueDispatcher,
    definitions: readonly ScheduleDefinition[],
    options: SchedulerOptions = {},
  ) {
    this.logger = options.logger ?? dispatcher.logger;
    this.where = `${options.source ? `${options.source}: ` : ''}schedules`;
    this.schedules = definitions.map((definition, i) => new Schedule(definition, `${this.where}[${i}]`));
    checkScheduleNames(definitions, dispatcher.getQueueNames(), this.where);
  }

  /**
   * Checks every schedule's task (registered, or found in the task folder; its params), runs the
   * latest missed tick of the schedules that catch up, then enqueues each tick as it comes until
   * `stop`. A schedule that names no task, or params its task refuses, is a ConfigError naming it.
   */
  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    for (const schedule of this.schedules) await this.check(schedule);
    if (this.schedules.length === 0) return;
    const now = Date.now();
    for (const schedule of this.schedules) this.cursors.set(schedule, { doneUpTo: now, failures: 0, retryAt: 0 });
    await Promise.all(this.schedules.filter((s) => s.catchUp).map((s) => this.catchUp(s, now)));
    if (this.stopped) return;
    this.logger.info('scheduler started', { schedules: this.schedules.map((s) => s.name) });
    this.arm();
  }

  /** Stops the timer; resolves once a tick being enqueued is written. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.wakeUp;
  }

  /**
   * Enqueues the tick of `schedule` at `tick` (a time the expression matches), unless the task
   * log has it already. Safe to call from any number of schedulers at once: one entry, one run.
   */
  async enqueueTick(schedule: Schedule | string, tick: Date): Promise<TickOutcome> {
    const s = typeof schedule === 'string' ? this.scheduleNamed(schedule) : schedule;
    const id = s.taskIdOf(tick);
    const { taskLog } = this.dispatcher;
    if (await taskLog.get(id)) return 'exists';
    const task = this.taskOf(s, { id, label: `schedule ${s.name}` });
    try {
      await this.dispatcher.enqueue(task, { queue: s.queue });
      return 'enqueued';
    } catch (error) {
      // Another scheduler wrote the tick first (a duplicate id refused by the log): not an error.
      if (await taskLog.get(id).catch(() => null)) return 'exists';
      throw error;
    }
  }

  /** Each schedule, its queue, its next `count` ticks and its latest tick in the task log. */
  async describe(count = 1, now = new Date()): Promise<ScheduleInfo[]> {
    const infos: ScheduleInfo[] = [];
    for (const schedule of this.schedules) {
      await this.check(schedule);
      const template = this.taskOf(schedule, {});
      const [last] = await this.dispatcher.taskLog.search(this.ticksFilter(schedule).sort('id', 'desc').limit(1));
      const lastAt = last ? schedule.tickOf(last.id) : null;
      infos.push({
        name: schedule.name,
        cron: schedule.cron,
        timezone: schedule.timezone,
        task: schedule.task,
        queue: this.dispatcher.queueFor(template, schedule.queue).name,
        catchUp: schedule.catchUp,
        nextRuns: schedule.nextTicks(count, now),
        lastTick: last && lastAt ? { at: lastAt, taskId: last.id, status: last.status } : null,
      });
    }
    return infos;
  }

  private scheduleNamed(name: string): Schedule {
    const found = this.schedules.find((s) => s.name === name);
    if (!found) throw new ConfigError(`No schedule named "${name}" (schedules: ${this.schedules.map((s) => s.name).join(', ') || 'none'})`);
    return found;
  }

  /** Every tick entry of `schedule`: a range of the task log's primary key. */
  private ticksFilter(schedule: Schedule): TaskLogFilter {
    return new TaskLogFilter().gte('id', schedule.idPrefix).lt('id', `${schedule.idPrefix}~`);
  }

  private async check(schedule: Schedule): Promise<void> {
    const i = this.schedules.indexOf(schedule);
    const where = `${this.where}[${i}]`;
    const { registry } = this.dispatcher;
    let known: boolean;
    try {
      known = await registry.resolve(schedule.task);
    } catch (error) {
      throw new ConfigError(`${where}.task: schedule "${schedule.name}": ${(error as Error).message}`);
    }
    if (!known) registry.requireKnown(schedule.task, `${where}.task: schedule "${schedule.name}"`);
    try {
      const task = this.taskOf(schedule, {});
      checkTaskParams(task.logName, task.getParameters());
      const paramsSchema = (task.constructor as TaskClass).params;
      if (paramsSchema) validateParams(task.logName, paramsSchema, task.getParameters());
    } catch (error) {
      throw new ConfigError(`${where}.params: schedule "${schedule.name}": ${(error as Error).message}`);
    }
  }

  /** A new task of the schedule, with its own copy of the params. */
  private taskOf(schedule: Schedule, meta: TaskMeta): AbstractTask<object> {
    const { registry } = this.dispatcher;
    const name = schedule.task;
    const params: JsonValue = schedule.params === undefined ? {} : (JSON.parse(JSON.stringify(schedule.params)) as JsonValue);
    if (registry.has(name) && name !== CallbackTask.taskName) {
      if (!isJsonObject(params)) throw new ConfigError(`task ${name} takes an object of params, got ${Array.isArray(params) ? 'an array' : params === null ? 'null' : typeof params}`);
      const cls = registry.get(name) as unknown as new (params: object, meta: TaskMeta) => AbstractTask<object>;
      return new cls(params, meta);
    }
    const prefix = `${CallbackTask.taskName}:`;
    const callback = name.startsWith(prefix) ? name.slice(prefix.length) : name;
    return registry.bind(CallbackTask.of(callback, schedule.params ?? null, meta));
  }

  /**
   * At start-up: the latest tick before now, when the task log does not have it, is enqueued once,
   * but only for a schedule that ran before (some earlier tick is in the log): a new schedule
   * starts with its next tick, not with one from before it existed.
   */
  private async catchUp(schedule: Schedule, now: number): Promise<void> {
    const last = schedule.lastTick(new Date(now));
    if (!last) return;
    try {
      const [latest] = await this.dispatcher.taskLog.search(this.ticksFilter(schedule).lt('id', schedule.taskIdOf(last)).sort('id', 'desc').limit(1));
      if (!latest || (await this.dispatcher.taskLog.get(schedule.taskIdOf(last)))) return;
      const outcome = await this.enqueueTick(schedule, last);
      this.logger.info(`schedule ${schedule.name}: tick ${last.toISOString()} was missed while no scheduler ran: ${outcome === 'enqueued' ? 'enqueued now' : 'enqueued by another scheduler'}`, { schedule: schedule.name, taskId: schedule.taskIdOf(last) });
    } catch (error) {
      this.logger.error(`schedule ${schedule.name}: the missed tick ${last.toISOString()} could not be enqueued: ${(error as Error).message}`, { schedule: schedule.name });
    }
  }

  /** One timer, to the soonest tick (or retry) of any schedule, at most MAX_SLEEP_MS away. */
  private arm(): void {
    if (this.stopped) return;
    const now = Date.now();
    let at = now + MAX_SLEEP_MS;
    for (const [schedule, cursor] of this.cursors) {
      if (cursor.failures > 0) at = Math.min(at, cursor.retryAt);
      else at = Math.min(at, schedule.nextTick(new Date(Math.max(cursor.doneUpTo, now - 1)))?.getTime() ?? at);
    }
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.wakeUp = this.wake()
        .catch((error: unknown) => this.logger.error(`scheduler: ${(error as Error).message}`))
        .finally(() => {
          this.wakeUp = undefined;
          this.arm();
        });
    }, Math.max(0, at - now));
  }

  /** Enqueues every schedule's due ticks, the schedules side by side, each in tick order. */
  private async wake(): Promise<void> {
    const now = Date.now();
    await Promise.all([...this.cursors].map(([schedule, cursor]) => this.enqueueDue(schedule, cursor, now)));
  }

  private async enqueueDue(schedule: Schedule, cursor: Cursor, now: number): Promise<void> {
    if (cursor.failures > 0 && now < cursor.retryAt) return;
    if (now < cursor.doneUpTo - CLOCK_BACK_MS) {
      // The clock went back: the ticks from here on come again, and the log says which were enqueued.
      this.logger.warn(`schedule ${schedule.name}: the clock went back by ${cursor.doneUpTo - now} ms; ticks already enqueued are not enqueued again`, { schedule: schedule.name });
      cursor.doneUpTo = now;
      return;
    }
    const from = Math.max(cursor.doneUpTo, now - LATE_WINDOW_MS);
    if (from > cursor.doneUpTo) {
      const skipped = schedule.nextTick(new Date(cursor.doneUpTo));
      if (skipped && skipped.getTime() < from) {
        this.logger.warn(`schedule ${schedule.name}: ticks from ${skipped.toISOString()} to ${new Date(from).toISOString()} are more than ${LATE_WINDOW_MS / 1000} s late (a blocked process, the database down, or the clock jumping forward): skipped`, { schedule: schedule.name });
      }
      cursor.doneUpTo = from;
    }
    for (let tick = schedule.nextTick(new Date(from)); tick && tick.getTime() <= now && !this.stopped; tick = schedule.nextTick(tick)) {
      try {
        await this.enqueueTick(schedule, tick);
      } catch (error) {
        cursor.failures++;
        const retryMs = Math.min(RETRY_MAX_MS, RETRY_FIRST_MS * 2 ** (cursor.failures - 1));
        cursor.retryAt = Date.now() + retryMs;
        this.logger.error(`schedule ${schedule.name}: tick ${tick.toISOString()} could not be enqueued: ${(error as Error).message}; failure ${cursor.failures} in a row, trying again in ${retryMs} ms`, { schedule: schedule.name, taskId: schedule.taskIdOf(tick), retryMs });
        return;
      }
      if (cursor.failures > 0) this.logger.info(`schedule ${schedule.name}: enqueueing works again after ${cursor.failures} failures`, { schedule: schedule.name });
      cursor.failures = 0;
      cursor.doneUpTo = tick.getTime();
    }
  }
}
