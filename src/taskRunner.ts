import { TaskTimeoutError, UnknownTaskError } from './errors';
import type { JsonValue } from './json';
import type { Logger } from './logger';
import type { Queue } from './queue';
import type { ReceivedMessage } from './queueBroker';
import { Report } from './report';
import type { TaskLog } from './taskLog/taskLog';
import type { NewTaskLogEntry } from './taskLog/taskLogEntry';
import { type TaskMessage, decodeTaskMessage, peekTaskId } from './taskMessage';
import type { TaskRegistry } from './taskRegistry';
import { RunContext, type RunContextDeps } from './runContext';
import { type AbstractTask, type TaskClass, type TaskResult, backoffDelay } from './task';
import { TaskStatus } from './taskStatus';

/** What the runner does with the message once it is done with it. */
export interface MessageHandle {
  acknowledge(): Promise<void>;
  release(delayMs: number): Promise<void>;
}

/** How one delivery ended. `retry` and `busy` released the message; every other acknowledged it. */
export type DeliveryOutcome =
  | 'completed'
  | 'failed'
  | 'retry'
  | 'child_running'
  | 'busy'
  | 'not-runnable'
  | 'lost-lease';

export interface TaskRunnerOptions {
  registry: TaskRegistry;
  taskLog: TaskLog;
  logger: Logger;
  workerId: string;
  leaseMs: number;
  /** Enqueues a child of a running task (the dispatcher's enqueue). */
  enqueueChild(parent: AbstractTask<object>, child: AbstractTask<object>, label?: string): Promise<AbstractTask<object>>;
}

/** Live runs of this runner: task id -> its context (whose abort() aborts the run's signal). */
export type RunningTasks = Map<string, RunContext>;

/** A message the caller has already decoded and turned into a task (the sync queue's path). */
export interface PreparedDelivery {
  message: TaskMessage;
  task: AbstractTask<object>;
}

/**
 * Turns one delivered message into at most one run: decode, claim in the task log, run, record the
 * report, then acknowledge or release. Shared by workers and the sync (in-memory) queue.
 */
export class TaskRunner {
  readonly running: RunningTasks = new Map();

  private readonly contextDeps: RunContextDeps;

  constructor(private readonly options: TaskRunnerOptions) {
    this.contextDeps = {
      logger: options.logger,
      progress: (taskId, value) => options.taskLog.setProgress(taskId, options.workerId, value),
      enqueueChild: options.enqueueChild,
    };
  }

  async process(queue: Queue, message: ReceivedMessage, handle: MessageHandle, prepared?: PreparedDelivery): Promise<DeliveryOutcome> {
    const { taskLog, registry } = this.options;
    let decoded: TaskMessage;
    let task: AbstractTask<object>;
    if (prepared) {
      ({ message: decoded, task } = prepared);
    } else {
      try {
        decoded = decodeTaskMessage(message.body);
      } catch (error) {
        const id = peekTaskId(message.body) ?? message.taskId ?? `undecodable-${queue.name}-${message.id}`;
        return this.rejectMessage(queue, handle, id, '(undecodable)', Report.error(`Message could not be decoded: ${(error as Error).message}`, { rawPayload: message.body, queue: queue.name, brokerMessageId: message.id }));
      }
      try {
        task = registry.instantiate(decoded);
      } catch (error) {
        const reason = error instanceof UnknownTaskError ? error.message : `Task could not be created: ${(error as Error).message}`;
        return this.rejectMessage(queue, handle, decoded.id, decoded.name, Report.error(reason, { rawPayload: message.body, queue: queue.name }));
      }
    }

    let claim = await taskLog.claim(task.id, this.options.workerId, this.options.leaseMs);
    if (claim.outcome === 'missing') {
      // The log lost the entry (reset, other database): record it now rather than drop the task.
      await taskLog.add([entryOf(task, decoded, queue, TaskStatus.Enqueued)]);
      claim = await taskLog.claim(task.id, this.options.workerId, this.options.leaseMs);
    }
    if (claim.outcome === 'busy') {
      // Another worker runs it right now; look again once its lease would have run out.
      await handle.release(Math.max(0, claim.leaseUntil.getTime() - Date.now()) + 100);
      return 'busy';
    }
    if (claim.outcome !== 'claimed') {
      await handle.acknowledge();
      return 'not-runnable';
    }
    const maxStalls = (task.constructor as TaskClass).maxStalls ?? 1;
    if (claim.attempt > decoded.maxAttempts + maxStalls) return this.giveUp(queue, task, claim.attempt, maxStalls, handle);
    return this.run(queue, task, decoded, claim.attempt, handle);
  }

  /** A task whose runs keep dying with their worker: failed, not started yet again. */
  private async giveUp(queue: Queue, task: AbstractTask<object>, attempt: number, maxStalls: number, handle: MessageHandle): Promise<DeliveryOutcome> {
    const { taskLog, workerId, logger } = this.options;
    const report = Report.error(`Task was started ${attempt - 1} times and never finished: its worker died or lost the lease each time (maxStalls ${maxStalls})`);
    if (!(await taskLog.changeStatus(task.id, { from: [TaskStatus.Running], to: TaskStatus.Failed, workerId, finished: true, report: report.toJSON() }))) {
      await handle.release(0);
      return 'lost-lease';
    }
    await handle.acknowledge();
    if (task.parentId) await taskLog.settleParent(task.parentId);
    logger.error(`${task.logName} ${task.id} failed: ${report.message}`, { taskId: task.id, task: task.logName, status: 'failed', attempt, queue: queue.name });
    return 'failed';
  }

  private async run(queue: Queue, task: AbstractTask<object>, message: TaskMessage, attempt: number, handle: MessageHandle): Promise<DeliveryOutcome> {
    const { taskLog, workerId, logger } = this.options;
    const cls = task.constructor as TaskClass;
    const started = performance.now();
    const ctx = new RunContext(task, attempt, message.previousResult, this.contextDeps);
    this.running.set(task.id, ctx);

    let report: Report;
    let failed: boolean;
    try {
      report = toReport(await withTimeout(task.run(ctx), message.timeout, ctx));
      failed = report.type === 'error';
    } catch (error) {
      report = Report.fromError(error);
      failed = true;
    } finally {
      this.running.delete(task.id);
    }

    const ms = Math.round(performance.now() - started);
    const done = (status: DeliveryOutcome): DeliveryOutcome => {
      if (logger.isLevelEnabled?.('info') !== false) {
        logger.info(`${task.logName} ${task.id} ${status} in ${ms} ms`, { taskId: task.id, task: task.logName, status, ms, attempt, queue: queue.name });
      }
      return status;
    };

    if (ctx.aborted && !(ctx.abortReason instanceof TaskTimeoutError)) {
      // Cancelled by force or taken over after a lost lease: whoever changed the status owns it now.
      await handle.release(0);
      return done('lost-lease');
    }

    if (failed && attempt < message.maxAttempts) {
      const moved = await taskLog.changeStatus(task.id, { from: [TaskStatus.Running], to: TaskStatus.Enqueued, workerId, releaseLease: true, report: report.toJSON() });
      if (!moved) {
        await handle.release(0);
        return done('lost-lease');
      }
      await handle.release(backoffDelay(message.backoff ?? cls.backoff, attempt));
      return done('retry');
    }

    const to = failed ? TaskStatus.Failed : ctx.children > 0 ? TaskStatus.ChildRunning : TaskStatus.Completed;
    const changed = await taskLog.changeStatus(task.id, { from: [TaskStatus.Running], to, workerId, report: report.toJSON(), finished: to !== TaskStatus.ChildRunning });
    if (!changed) {
      await handle.release(0);
      return done('lost-lease');
    }
    await handle.acknowledge();
    if (to === TaskStatus.ChildRunning) await taskLog.settleParent(task.id);
    if (task.parentId && to !== TaskStatus.ChildRunning) await taskLog.settleParent(task.parentId);
    return done(to === TaskStatus.ChildRunning ? 'child_running' : to);
  }

  private async rejectMessage(queue: Queue, handle: MessageHandle, id: string, taskName: string, report: Report): Promise<DeliveryOutcome> {
    await this.options.taskLog.recordFailure(
      { id, parentId: null, taskName, label: '', owner: null, queue: queue.name, parameters: null, createdAt: new Date() },
      report.toJSON(),
    );
    await handle.acknowledge();
    this.options.logger.error(`${taskName} ${id} failed: ${report.message}`, { taskId: id, task: taskName, status: 'failed', queue: queue.name });
    return 'failed';
  }
}

export function entryOf(task: AbstractTask<object>, message: TaskMessage, queue: Queue, status: TaskStatus): NewTaskLogEntry {
  return {
    status,
    id: task.id,
    parentId: task.parentId,
    taskName: task.logName,
    label: task.label,
    owner: task.owner,
    queue: queue.name,
    parameters: message.params,
    createdAt: task.createdAt,
  };
}

/** The report of a run that returned nothing: one shared, frozen object. */
const COMPLETED = Report.success('Task completed').freeze() as Report;

function toReport(result: TaskResult): Report {
  if (result === undefined) return COMPLETED;
  if (result instanceof Report) return result;
  // A Report from another copy of taskq (a task module that bundles its own) is still a report.
  if (typeof result === 'object' && result !== null && typeof (result as { toJSON?: unknown }).toJSON === 'function') {
    const json: unknown = (result as unknown as { toJSON(): unknown }).toJSON();
    if (Report.isReportData(json)) return Report.fromJSON(json);
  }
  return Report.success('Task completed', result as JsonValue);
}

function withTimeout<T>(run: Promise<T> | T, timeout: number | null, ctx: RunContext): Promise<T> | T {
  return timeout ? raceTimeout(run, timeout, ctx) : run;
}

async function raceTimeout<T>(run: Promise<T> | T, timeout: number, ctx: RunContext): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      const error = new TaskTimeoutError(timeout);
      ctx.abort(error);
      reject(error);
    }, timeout);
  });
  try {
    return await Promise.race([run, expired]);
  } finally {
    clearTimeout(timer);
  }
}
