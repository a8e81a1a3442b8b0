import { randomUUID } from 'node:crypto';
import { ConfigError, TaskqError } from './errors';
import { type EnqueueOptions, checkEnqueueOptions } from './enqueueOptions';
import { BATCH_TASK_NAME } from './prerequisites';
import type { QueueDispatcher } from './queueDispatcher';
import { Report } from './report';
import type { AbstractTask } from './task';
import type { BatchCounts } from './taskLog/taskLog';
import { type TaskOutcome, outcomeOf } from './taskOutcome';
import { TaskStatus } from './taskStatus';

export interface BatchOptions extends Omit<EnqueueOptions, 'after' | 'onPrerequisiteFailure' | 'transaction' | 'uniqueKey' | 'replace'> {
  /** Resolve once every task of the batch has ended, with their outcomes (see Batch.outcomes). */
  wait?: boolean;
  /** With `wait`: give up waiting after this many ms (TaskWaitTimeoutError; the tasks go on). */
  waitTimeout?: number;
  /** Stops the wait (not the tasks). */
  signal?: AbortSignal;
  /**
   * Runs once when every task of the batch has ended, whatever their outcomes, with the batch's
   * result (BatchResultJson: the outcomes in order) as ctx.previousResult.
   */
  onComplete?: AbstractTask<object>;
  /** Runs once when every task has ended and at least one did not complete; the same previousResult. */
  onFailure?: AbstractTask<object>;
}

export interface Batch<T extends AbstractTask<object> = AbstractTask<object>> {
  /** The id of the batch's own entry in the task log: the parent of its tasks. */
  id: string;
  tasks: T[];
  /** With `wait`: each task's outcome, in the order given. */
  outcomes?: TaskOutcome[];
}

/** How far a batch has got: its entry's status and its tasks' counts (TaskLog.get's progress of a batch). */
export interface BatchProgress extends BatchCounts {
  id: string;
  /** The batch entry's status: child_running until every task has ended, then completed or failed. */
  status: TaskStatus;
}

/**
 * Enqueues tasks as one batch: one write per queue, under a parent entry of their own in the task
 * log (BATCH_TASK_NAME, `child_running` until the last task ends, then `completed`, or `failed`
 * if any did not complete). onComplete and onFailure are enqueued with the tasks, held until the
 * batch ends (prerequisites), so a worker that dies as the batch ends loses neither.
 */
export async function enqueueBatch<T extends AbstractTask<object>>(dispatcher: QueueDispatcher, tasks: readonly T[], options: BatchOptions = {}): Promise<Batch<T>> {
  if (!Array.isArray(tasks)) throw new ConfigError('enqueueBatch() takes an array of tasks');
  const { wait, waitTimeout, signal, onComplete, onFailure, ...enqueueOptions } = options;
  for (const key of ['after', 'onPrerequisiteFailure', 'transaction'] as const) {
    if ((enqueueOptions as EnqueueOptions)[key] !== undefined) throw new ConfigError(`enqueueBatch() cannot take ${key}: the batch's tasks start at once (use onComplete to follow a batch)`);
  }
  for (const key of ['uniqueKey', 'replace'] as const) {
    if ((enqueueOptions as EnqueueOptions)[key] !== undefined) throw new ConfigError(`enqueueBatch() cannot take ${key}: it would apply to every task of the batch`);
  }
  if (waitTimeout !== undefined && !wait) throw new ConfigError('enqueueBatch() option waitTimeout goes with wait');
  const ids = tasks.map((task) => task.id);
  const callbacks = [onComplete, onFailure].filter((task): task is AbstractTask<object> => task !== undefined);
  if (new Set([...ids, ...callbacks.map((task) => task.id)]).size !== ids.length + callbacks.length) {
    throw new ConfigError('enqueueBatch() got the same task (or task id) twice: each task of a batch, and each callback, is a task of its own');
  }
  const adopted = tasks.find((task) => task.parentId !== null);
  if (adopted) throw new ConfigError(`enqueueBatch(): task ${adopted.id} already has a parent (${adopted.parentId}); a batch is its tasks' parent`);
  // A callback on a sync queue would run at its enqueue, before tasks on other queues have ended.
  const syncCallback = callbacks.find((task) => dispatcher.queueFor(task).isSync());
  if (syncCallback && tasks.some((task) => !dispatcher.queueFor(task, enqueueOptions.queue).isSync())) {
    throw new ConfigError(`enqueueBatch(): callback ${syncCallback.logName} is on sync queue ${dispatcher.queueFor(syncCallback).name}, which would run it before the batch's queued tasks end`);
  }

  // What enqueueMany would refuse is refused before the batch's entry is written.
  checkEnqueueOptions(enqueueOptions);
  if (enqueueOptions.queue !== undefined) dispatcher.getQueue(enqueueOptions.queue);
  const unregistered = [...tasks, ...callbacks].find((task) => !dispatcher.registry.has(task.name));
  if (unregistered) throw new TaskqError(`Task "${unregistered.name}" is not registered with this dispatcher; add it to the "tasks" option`);

  const id = randomUUID();
  const now = new Date();
  const parameters = { tasks: ids, ...(onComplete ? { onComplete: onComplete.id } : {}), ...(onFailure ? { onFailure: onFailure.id } : {}) };
  await dispatcher.taskLog.add([
    {
      id,
      parentId: null,
      taskName: BATCH_TASK_NAME,
      label: enqueueOptions.label ?? `Batch of ${ids.length} task${ids.length === 1 ? '' : 's'}`,
      owner: enqueueOptions.owner ?? null,
      queue: null,
      parameters,
      createdAt: now,
      status: TaskStatus.ChildRunning,
    },
  ]);
  for (const task of tasks) task.parentId = id;
  if (tasks.length) {
    try {
      await dispatcher.enqueueMany(tasks, enqueueOptions);
    } catch (error) {
      // Some of its tasks may be out: the batch can never count all of them, so it ends now.
      const report = JSON.stringify(Report.error(`The batch could not be enqueued whole: ${(error as Error).message}`));
      await dispatcher.taskLog.changeStatus(id, { from: [TaskStatus.ChildRunning], to: TaskStatus.Failed, finished: true, report }).catch(() => undefined);
      throw error;
    }
  }
  // Ends an empty batch, and one whose tasks all ran at enqueue (sync queues settle as they end).
  await dispatcher.taskLog.settleParent(id);
  const owner = enqueueOptions.owner === undefined ? {} : { owner: enqueueOptions.owner };
  if (onComplete) await dispatcher.enqueue(onComplete, { ...owner, after: [id], onPrerequisiteFailure: 'run' });
  if (onFailure) await dispatcher.enqueue(onFailure, { ...owner, after: [id], onlyOnPrerequisiteFailure: true });

  const batch: Batch<T> = { id, tasks: [...tasks] };
  if (wait) {
    const entries = await dispatcher.taskLog.waitForEnd(ids, { timeoutMs: waitTimeout, signal });
    batch.outcomes = entries.map((entry) => outcomeOf(entry));
  }
  return batch;
}

/** A batch's progress, counted from its tasks' entries; null when `id` is not a batch in the log. */
export async function batchProgress(dispatcher: QueueDispatcher, id: string): Promise<BatchProgress | null> {
  const entry = await dispatcher.taskLog.get(id);
  if (!entry || entry.taskName !== BATCH_TASK_NAME) return null;
  return { id, status: entry.status, ...(entry.progress as unknown as BatchCounts) };
}
