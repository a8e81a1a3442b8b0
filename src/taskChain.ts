import { ConfigError, TaskStateError, TaskWaitTimeoutError } from './errors';
import type { EnqueueOptions } from './enqueueOptions';
import { isCompleted } from './taskOutcome';
import type { QueueDispatcher } from './queueDispatcher';
import type { AbstractTask } from './task';
import { TaskLogFilter } from './taskLog/taskLogFilter';
import { type RunOptions, checkRunOptions, outcomeOf } from './taskOutcome';
import { FINAL_STATUSES } from './taskStatus';

/** Options of every step of a chain; a delay or runAt holds the first step (the others follow it). */
export type ChainOptions = Omit<EnqueueOptions, 'after' | 'onPrerequisiteFailure' | 'transaction' | 'uniqueKey' | 'replace'>;

/** `runChain`'s options: a chain's, where `timeout` bounds the wait for the last step (see RunOptions). */
export type RunChainOptions = Omit<RunOptions, 'after' | 'onPrerequisiteFailure'>;

/**
 * Enqueues tasks that run one after the other: each step waits for the one before it (enqueue
 * option `after`) and receives its result as ctx.previousResult. A step that fails (its retries
 * used up) or is cancelled stops the chain: the steps after it end `cancelled`, saying why.
 * Steps may be on different queues. The steps are written one by one, first to last, so a step
 * never names a prerequisite the log does not have yet; a crash midway leaves the steps written
 * so far, which run.
 */
export async function enqueueChain<T extends AbstractTask<object>>(dispatcher: QueueDispatcher, tasks: readonly T[], options: ChainOptions = {}): Promise<T[]> {
  if (!Array.isArray(tasks) || tasks.length === 0) throw new ConfigError('chain() needs at least one task');
  if (new Set(tasks.map((task) => task.id)).size !== tasks.length) throw new ConfigError('chain() got the same task (or task id) twice: each step is a task of its own');
  for (const key of ['after', 'onPrerequisiteFailure'] as const) {
    if ((options as EnqueueOptions)[key] !== undefined) throw new ConfigError(`chain() sets ${key} itself: each step waits for the one before`);
  }
  if ((options as EnqueueOptions).transaction !== undefined) throw new ConfigError('chain() takes no transaction: its steps are written one by one');
  for (const key of ['uniqueKey', 'replace'] as const) {
    // One key for every step would make the second step "the same task" as the first.
    if ((options as EnqueueOptions)[key] !== undefined) throw new ConfigError(`chain() cannot take ${key}: it would apply to every step, and each step is a task of its own`);
  }
  const { delay, runAt, ...later } = options;
  let previous: T | undefined;
  for (const task of tasks) {
    await dispatcher.enqueue(task, previous ? { ...later, after: [previous.id], onPrerequisiteFailure: 'cancel' } : { ...later, delay, runAt });
    previous = task;
  }
  return [...tasks];
}

/**
 * Enqueues a chain and waits for its end: resolves with the last step's result, rejects with the
 * TaskRunError of the step that stopped it (the first that did not complete). With
 * `cancelOnTimeout`, a wait that times out cancels every step not ended yet.
 */
export async function runChain<R>(dispatcher: QueueDispatcher, tasks: readonly AbstractTask<object>[], options: RunChainOptions = {}): Promise<R> {
  checkRunOptions(options);
  const { timeout, cancelOnTimeout, runTimeout, signal, ...chainOptions } = options;
  const steps = await enqueueChain(dispatcher, tasks, runTimeout === undefined ? chainOptions : { ...chainOptions, timeout: runTimeout });
  const { taskLog } = dispatcher;
  const last = steps[steps.length - 1];
  let lastEntry;
  try {
    [lastEntry] = await taskLog.waitForEnd([last.id], { timeoutMs: timeout, signal });
  } catch (error) {
    if (error instanceof TaskWaitTimeoutError && cancelOnTimeout) await cancelUnended(dispatcher, steps);
    throw error;
  }
  const outcome = outcomeOf<R>(lastEntry);
  if (outcome.ok) return outcome.result;
  const entries = await taskLog.search(new TaskLogFilter().in('id', steps.map((step) => step.id)));
  const byId = new Map(entries.map((entry) => [entry.id, entry]));
  const stopper = steps.map((step) => byId.get(step.id)).find((entry) => entry !== undefined && FINAL_STATUSES.includes(entry.status) && !isCompleted(entry));
  const stopped = stopper ? outcomeOf(stopper) : outcome;
  throw stopped.ok ? outcome.error : stopped.error;
}

async function cancelUnended(dispatcher: QueueDispatcher, steps: readonly AbstractTask<object>[]): Promise<void> {
  for (const step of steps) {
    try {
      await dispatcher.taskLog.cancel(step.id, { force: true });
    } catch (error) {
      // Ended already: nothing to cancel.
      if (!(error instanceof TaskStateError)) throw error;
    }
  }
}
