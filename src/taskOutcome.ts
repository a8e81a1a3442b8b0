import type { EnqueueOptions } from './enqueueOptions';
import { ConfigError, TaskRunError, TaskStateError, TaskWaitTimeoutError } from './errors';
import type { JsonValue } from './json';
import type { TaskLog } from './taskLog/taskLog';
import type { TaskLogEntry } from './taskLog/taskLogEntry';
import { FINAL_STATUSES, TaskStatus } from './taskStatus';

/**
 * How an awaited task ended. `result` is what its run returned, as JSON: the value itself, or
 * the data of the Report it returned (undefined when it returned nothing or a report without data).
 */
export type TaskOutcome<R = JsonValue | undefined> =
  | { taskId: string; ok: true; result: R }
  | { taskId: string; ok: false; error: TaskRunError };

/** A completed entry (archived once completed counts as completed). */
export function isCompleted(entry: TaskLogEntry): boolean {
  return entry.status === TaskStatus.Completed || (entry.status === TaskStatus.Archived && entry.archivedFrom === TaskStatus.Completed);
}

/** The outcome of a final entry: completed (or archived once completed) is a result, else an error. */
export function outcomeOf<R = JsonValue | undefined>(entry: TaskLogEntry): TaskOutcome<R> {
  if (isCompleted(entry)) return { taskId: entry.id, ok: true, result: entry.report?.data as R };
  return { taskId: entry.id, ok: false, error: new TaskRunError(entry.id, entry.taskName, entry.status, entry.report) };
}

export interface AwaitEndOptions {
  timeoutMs?: number;
  /** On timeout, cancel the task (by force: a running one is aborted) instead of leaving it be. */
  cancelOnTimeout?: boolean;
  signal?: AbortSignal;
}

/**
 * Waits for one task's end through the log. On a timeout with `cancelOnTimeout`, the task is
 * cancelled; if it ended just before the cancel could apply, its own outcome is returned.
 */
export async function awaitEnd(taskLog: TaskLog, taskId: string, options: AwaitEndOptions): Promise<TaskLogEntry> {
  try {
    const [entry] = await taskLog.waitForEnd([taskId], { timeoutMs: options.timeoutMs, signal: options.signal });
    return entry;
  } catch (error) {
    if (!(error instanceof TaskWaitTimeoutError) || !options.cancelOnTimeout) throw error;
    try {
      await taskLog.cancel(taskId, { force: true });
    } catch (cancelError) {
      if (!(cancelError instanceof TaskStateError)) throw cancelError;
      // It ended as the cancel came: its own outcome, not a timeout.
      const entry = await taskLog.get(taskId);
      if (entry && FINAL_STATUSES.includes(entry.status)) return entry;
    }
    throw error;
  }
}

/** `dispatcher.run`'s options: an enqueue's, where `timeout` bounds the wait. */
export interface RunOptions extends Omit<EnqueueOptions, 'timeout' | 'transaction'> {
  /** Give up waiting after this many ms: rejects with TaskWaitTimeoutError; the task goes on. */
  timeout?: number;
  /** With `timeout`: cancel the task (by force, a running one is aborted) when the wait gives up. */
  cancelOnTimeout?: boolean;
  /** The ms a run may take (an enqueue's `timeout`). */
  runTimeout?: number;
  /** Stops the wait (not the task). */
  signal?: AbortSignal;
}

/** Checks what `run` adds to the enqueue options; the rest is checked by the enqueue. */
export function checkRunOptions(options: RunOptions): void {
  if ((options as EnqueueOptions).transaction !== undefined) {
    throw new ConfigError('run() cannot take a transaction: the task does not exist before the transaction commits, so waiting inside it would never end. Enqueue it in the transaction and wait with taskLog.waitForEnd after the commit');
  }
  const { timeout } = options;
  if (timeout !== undefined && !(typeof timeout === 'number' && timeout > 0 && Number.isFinite(timeout))) {
    throw new ConfigError(`run() option timeout must be a positive number of ms, got ${String(timeout)}`);
  }
  if (options.cancelOnTimeout && timeout === undefined) throw new ConfigError('run() option cancelOnTimeout goes with timeout');
}
