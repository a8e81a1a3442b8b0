import { ConfigError } from './errors';
import type { Queue } from './queue';
import type { OutgoingMessage } from './queueBroker';
import { Report } from './report';
import type { AbstractTask } from './task';
import type { TaskLog } from './taskLog/taskLog';
import type { NewTaskLogEntry } from './taskLog/taskLogEntry';
import { type TaskMessage, encodeTaskMessage } from './taskMessage';
import { PENDING_STATUSES, TaskStatus } from './taskStatus';

/**
 * What a unique enqueue did: `created` a new task; found the `existing` pending task of the key
 * and left it as it was; or `replaced` that task's params and run time (enqueue option replace).
 */
export type UniqueOutcome = 'created' | 'existing' | 'replaced';

/** What `dispatcher.enqueueUnique` resolves with: the task (its id the one that holds the key) and what happened. */
export interface UniqueEnqueueResult<T> {
  task: T;
  outcome: UniqueOutcome;
}

/** One unique task's enqueue, as the dispatcher hands it over. */
export interface UniquePublish {
  queue: Queue;
  taskLog: TaskLog;
  task: AbstractTask<object>;
  message: TaskMessage;
  entry: NewTaskLogEntry;
  uniqueKey: string;
  replace: boolean;
  runAt?: number;
  groupId?: string;
  /** Runs the new task now (a sync queue), as every sync enqueue does. */
  runNow(message: TaskMessage): Promise<unknown>;
}

/** Tries of a unique enqueue whose key changes hands under it (taken by a worker, replaced). */
const RETRIES = 5;

/**
 * Publishes a task enqueued with a uniqueKey. Where the queue and the log share a database
 * (rds), the queue broker does it in one transaction (QueueBroker.pushUnique). Elsewhere (SQS,
 * the memory queue, a log on another database) the log entry is written first, since it is what
 * holds the key, and the message second: a crash between the two leaves an entry `enqueued`
 * without a message (where the broker can look messages up, the lost-task sweep fails it); a
 * message that cannot be sent fails the entry at once, which frees the key, and the error is
 * thrown. The task object ends with the id of the task that holds the key.
 */
export async function publishUnique(p: UniquePublish): Promise<UniqueOutcome> {
  const { queue, taskLog, task, message, entry, uniqueKey, replace, runAt, groupId } = p;
  const log = taskLog.broker;
  if (!log.addUnique || !log.replaceUnique || !log.takeUnique) {
    throw new ConfigError(`enqueue option uniqueKey needs a task log that keeps unique keys: the ${log.type} task log does not`);
  }
  const body = (id: string, revision: number) => encodeTaskMessage({ ...message, id, revision });

  if (queue.isSync()) {
    // The task runs within its enqueue: it is pending only while another enqueue of the key is
    // between these lines, which then finds it (and a replace leaves it, as it is running).
    const added = await log.addUnique(entry, uniqueKey);
    if (added.outcome === 'existing') return found(task, added.id, 'existing');
    await log.takeUnique(task.id, 0);
    task.markEnqueued();
    await p.runNow({ ...message, revision: 0 });
    return 'created';
  }

  const pushed = await queue.broker.pushUnique?.(queue.name, { uniqueKey, replace, entry, runAt, groupId, body }, log);
  if (pushed) return pushed.outcome === 'added' ? 'created' : found(task, pushed.id, pushed.outcome);

  for (let attempt = 0; attempt < RETRIES; attempt++) {
    if (replace) {
      const replaced = await log.replaceUnique(uniqueKey, entry.parameters);
      if (replaced?.superseded) return found(task, replaced.id, 'replaced');
      if (replaced) {
        // A new message at the new revision (SQS cannot change a sent one); the older is skipped when it comes.
        await send(p, { taskId: replaced.id, body: body(replaced.id, replaced.revision), runAt, groupId, deduplicationId: `${replaced.id}:r${replaced.revision}` }, replaced.id);
        return found(task, replaced.id, 'replaced');
      }
    }
    const added = await log.addUnique(entry, uniqueKey);
    if (added.outcome === 'existing') {
      // Taken by a worker since replaceUnique looked, or added by another enqueue: look again.
      if (replace) continue;
      return found(task, added.id, 'existing');
    }
    await send(p, { taskId: task.id, body: body(task.id, 0), runAt, groupId }, task.id);
    return 'created';
  }
  throw new ConfigError(`enqueue option uniqueKey ${JSON.stringify(uniqueKey)}: its pending task kept changing hands under ${RETRIES} tries; try again`);
}

/** Sends the message of a unique task whose entry is written; if it cannot, fails the entry (freeing the key) and rethrows. */
async function send(p: UniquePublish, message: OutgoingMessage, id: string): Promise<void> {
  try {
    await p.queue.broker.pushMany(p.queue.name, [message]);
  } catch (error) {
    const report = Report.error(`Its message could not be sent to queue ${p.queue.name}: ${(error as Error).message}`);
    await p.taskLog.changeStatus(id, { from: PENDING_STATUSES, to: TaskStatus.Failed, finished: true, report: JSON.stringify(report) }).catch(() => undefined);
    throw error;
  }
}

/** The task object now stands for the task that holds the key. */
function found(task: AbstractTask<object>, id: string, outcome: UniqueOutcome): UniqueOutcome {
  (task as { id: string }).id = id;
  return outcome;
}
