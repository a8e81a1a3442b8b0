import { TaskqError } from './errors';
import type { Queue } from './queue';
import { Report } from './report';
import type { TaskLog } from './taskLog/taskLog';
import { TaskLogFilter } from './taskLog/taskLogFilter';
import { PENDING_STATUSES, TaskStatus } from './taskStatus';

/** One task name's tasks on a queue. */
export interface TaskDepth {
  taskName: string;
  /** Enqueued or dequeued: not taken by a worker yet. */
  waiting: number;
  running: number;
  /** When the oldest waiting one was created; null when none waits. */
  oldestWaitingAt: Date | null;
}

/** How full a queue is: its broker's messages, and its tasks in the task log, in all and per task name. */
export interface QueueDepth {
  queue: string;
  /** The broker's type (describe().type): memory, rds, sqs. */
  broker: string;
  /** Messages the broker holds: waiting, delayed and leased (SQS: its approximate count). */
  messages: number;
  waiting: number;
  running: number;
  oldestWaitingAt: Date | null;
  /** Per task name, the most waiting first. */
  tasks: TaskDepth[];
}

export interface PurgeOptions {
  /** Only the waiting tasks of this name. */
  taskName?: string;
  /** Who purged, for the cancelled tasks' report (the CLI gives user@host). */
  by?: string;
}

/** What a purge did: tasks moved to cancelled in the task log, and messages the broker deleted. */
export interface PurgeResult {
  cancelled: number;
  messagesRemoved: number;
}

/** Waiting entries looked up at a time, and status changes in flight at once. */
const PAGE = 500;
const IN_FLIGHT = 25;

/** Every queue's depth, in the order given (the config's). */
export async function queueDepths(queues: readonly Queue[], taskLog: TaskLog): Promise<QueueDepth[]> {
  // The log's counts and each broker's (an SQS queue's is a request of its own) all at once.
  const [counts, messages] = await Promise.all([taskLog.pendingCounts(), Promise.all(queues.map((queue) => queue.broker.count(queue.name)))]);
  const depths: QueueDepth[] = [];
  for (const [i, queue] of queues.entries()) {
    const tasks = counts
      .filter((c) => c.queue === queue.name)
      .map(({ taskName, waiting, running, oldestWaitingAt }) => ({ taskName, waiting, running, oldestWaitingAt }))
      .sort((a, b) => b.waiting - a.waiting || b.running - a.running || (a.taskName < b.taskName ? -1 : a.taskName > b.taskName ? 1 : 0));
    const oldest = tasks.reduce<number | null>((min, t) => (t.oldestWaitingAt === null ? min : Math.min(min ?? Infinity, t.oldestWaitingAt.getTime())), null);
    depths.push({
      queue: queue.name,
      broker: queue.broker.describe().type,
      messages: messages[i],
      waiting: tasks.reduce((n, t) => n + t.waiting, 0),
      running: tasks.reduce((n, t) => n + t.running, 0),
      oldestWaitingAt: oldest === null ? null : new Date(oldest),
      tasks,
    });
  }
  return depths;
}

/**
 * Empties a queue of its waiting tasks: each one still enqueued or dequeued moves to `cancelled`
 * by a compare-and-set, the very one a worker's claim makes from the other side, so a task ends
 * either run or cancelled and never run, never both; a task a worker already runs is left alone.
 * Then the cancelled tasks' messages go (QueueBroker.removeTasks); a broker without it (SQS)
 * keeps them, and the workers that receive them acknowledge them unrun, as for any cancelled task.
 *
 * Only those messages: the queue's other messages belong to tasks that are not waiting (a run
 * under way, whose retry needs its message; a task whose worker died, which its message brings
 * back), so a purge of the whole queue (QueueBroker.purge, SQS's PurgeQueue) would lose them.
 */
export async function purgeQueue(queue: Queue, taskLog: TaskLog, options: PurgeOptions = {}): Promise<PurgeResult> {
  const { taskName, by } = options;
  const report = JSON.stringify(
    Report.warning(`Purged from queue ${queue.name}${taskName === undefined ? '' : ` (tasks named ${taskName})`}${by ? ` by ${by}` : ''} before it started`, {
      purgedAt: new Date().toISOString(),
      queue: queue.name,
      ...(by ? { purgedBy: by } : {}),
    }),
  );
  const cancelled = await cancelWaiting(queue.name, taskLog, taskName, report);
  if (!queue.broker.removeTasks || cancelled.length === 0) return { cancelled: cancelled.length, messagesRemoved: 0 };
  try {
    return { cancelled: cancelled.length, messagesRemoved: await queue.broker.removeTasks(queue.name, cancelled) };
  } catch (error) {
    throw new TaskqError(`${cancelled.length} waiting task(s) of queue ${queue.name} were cancelled, but their messages could not be removed (workers acknowledge them without running them): ${(error as Error).message}`);
  }
}

/**
 * Moves the queue's waiting entries (of `taskName`, if given) to cancelled, each by its own
 * compare-and-set; returns the ids it moved. Pages through the ids in order, so an entry is looked
 * at once even while others are enqueued; parents waiting for a cancelled child are settled.
 */
async function cancelWaiting(queue: string, taskLog: TaskLog, taskName: string | undefined, report: string): Promise<string[]> {
  const cancelled: string[] = [];
  const parents = new Set<string>();
  let after: string | undefined;
  for (;;) {
    const filter = new TaskLogFilter().eq('queue', queue).in('status', PENDING_STATUSES);
    if (taskName !== undefined) filter.eq('taskName', taskName);
    if (after !== undefined) filter.gt('id', after);
    const page = await taskLog.search(filter.sort('id', 'asc').limit(PAGE));
    for (let i = 0; i < page.length; i += IN_FLIGHT) {
      const slice = page.slice(i, i + IN_FLIGHT);
      const changed = await Promise.all(slice.map((e) => taskLog.changeStatus(e.id, { from: PENDING_STATUSES, to: TaskStatus.Cancelled, finished: true, report })));
      slice.forEach((entry, j) => {
        if (!changed[j]) return;
        cancelled.push(entry.id);
        if (entry.parentId) parents.add(entry.parentId);
      });
    }
    if (page.length < PAGE) break;
    after = page[page.length - 1].id;
  }
  for (const parent of parents) await taskLog.settleParent(parent);
  return cancelled;
}
