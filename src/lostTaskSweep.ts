import type { Queue } from './queue';
import type { QueueDispatcher } from './queueDispatcher';
import { Report } from './report';
import type { TaskLogEntry } from './taskLog/taskLogEntry';
import { TaskLogFilter } from './taskLog/taskLogFilter';
import { TaskStatus } from './taskStatus';

export interface LostTaskSweepOptions {
  /**
   * How long a task must have waited (enqueued or dequeued that long ago, or running with a
   * lease that ended that long ago) before a missing message means it is lost.
   */
  olderThanMs: number;
  /** Only these queues; default every queue whose broker can look messages up by task. */
  queues?: readonly string[];
  /** Candidates looked at per queue and kind in one sweep (default 500). */
  batch?: number;
}

/**
 * Fails the tasks that would otherwise wait forever for a message no queue holds: an entry left
 * `enqueued` by a crash between the two writes of an enqueue that could not be one transaction,
 * by a purged queue or a broker that dropped the message; an entry left `running` by a run whose
 * result could not be recorded (the sync queue when the log failed mid-run), with no message to
 * run it again. Their parents and `--wait`ers then see them end. A task whose message is still
 * on its queue (delayed, leased, waiting) is never touched, and every change is a compare-and-set
 * on the status (and, for a run, on its claim), so a task that moves meanwhile is left alone.
 * Queues whose broker cannot look messages up by task (SQS) are skipped; on those, the tasks
 * whose message the broker moved to its dead-letter queue are failed instead, unless a run of
 * theirs still holds a lease (see failDeadLettered). Returns the failed ids.
 */
export async function sweepLostTasks(dispatcher: QueueDispatcher, options: LostTaskSweepOptions): Promise<string[]> {
  const { taskLog } = dispatcher;
  const cutoff = Date.now() - options.olderThanMs;
  const batch = options.batch ?? 500;
  const failed: string[] = [];
  for (const queue of dispatcher.getQueues()) {
    if (options.queues && !options.queues.includes(queue.name)) continue;
    if (queue.broker.deadLetteredTaskIds) failed.push(...(await failDeadLettered(dispatcher, queue, batch)));
    if (!queue.broker.holdsTasks) continue;
    const kinds: [TaskLogFilter, (entry: TaskLogEntry) => string][] = [
      [
        new TaskLogFilter().eq('queue', queue.name).in('status', [TaskStatus.Enqueued, TaskStatus.Dequeued]).lt('updatedAt', cutoff).limit(batch),
        (e) => `Lost: ${e.status} since ${e.updatedAt.toISOString()}, but queue ${queue.name} holds no message for it (a crash between the two writes of its enqueue, a purged queue, or a broker that dropped it); failed rather than waited on forever`,
      ],
      [
        new TaskLogFilter().eq('queue', queue.name).eq('status', TaskStatus.Running).lt('leaseUntil', cutoff).limit(batch),
        (e) => `Lost: its run by ${e.workerId ?? 'a worker'} ended without its result being recorded (its lease ended ${e.leaseUntil?.toISOString() ?? '?'}, and queue ${queue.name} holds no message to run it again)`,
      ],
    ];
    for (const [filter, reason] of kinds) {
      const entries = await taskLog.search(filter);
      if (entries.length === 0) continue;
      const present = await queue.broker.holdsTasks(queue.name, entries.map((e) => e.id));
      for (const entry of entries) {
        if (present.has(entry.id)) continue;
        const holder = entry.status === TaskStatus.Running && entry.workerId ? { workerId: entry.workerId, attempt: entry.attempts } : undefined;
        const report = JSON.stringify(Report.error(reason(entry), { queue: queue.name, lostStatus: entry.status }));
        if (!(await taskLog.changeStatus(entry.id, { from: [entry.status], to: TaskStatus.Failed, holder, finished: true, report }))) continue;
        failed.push(entry.id);
        dispatcher.logger.warn(`task ${entry.id} (${entry.taskName}) failed as lost: ${reason(entry)}`, { taskId: entry.id, taskName: entry.taskName, queue: queue.name });
        if (entry.parentId) await taskLog.settleParent(entry.parentId);
      }
    }
  }
  return failed;
}

/**
 * Tasks whose message the broker moved to its dead-letter queue: a worker gave it back on its
 * last delivery without failing the task (it died, or met a task it did not know). Failed, with
 * the reason, when waiting or when their run's lease has ended; a live run is left alone (a
 * duplicate message was dead-lettered while another copy runs). The message stays in the
 * dead-letter queue; `task-log --rerun` publishes the task again.
 */
async function failDeadLettered(dispatcher: QueueDispatcher, queue: Queue, batch: number): Promise<string[]> {
  const { taskLog } = dispatcher;
  const failed: string[] = [];
  const ids = await (queue.broker.deadLetteredTaskIds as NonNullable<Queue['broker']['deadLetteredTaskIds']>)(queue.name, batch);
  for (const id of new Set(ids)) {
    const entry = await taskLog.get(id);
    if (!entry) continue;
    const waiting = entry.status === TaskStatus.Enqueued || entry.status === TaskStatus.Dequeued;
    const leaseEnded = entry.status === TaskStatus.Running && (entry.leaseUntil === null || entry.leaseUntil.getTime() < Date.now());
    if (!waiting && !leaseEnded) continue;
    const reason = `Dead-lettered: queue ${queue.name}'s broker moved its message to the dead-letter queue after ${queue.broker.maxReceives ?? 'too many'} receives, the last without a result`;
    const holder = leaseEnded && entry.workerId ? { workerId: entry.workerId, attempt: entry.attempts } : undefined;
    const report = JSON.stringify(Report.error(reason, { queue: queue.name, lostStatus: entry.status }));
    if (!(await taskLog.changeStatus(id, { from: [entry.status], to: TaskStatus.Failed, holder, finished: true, report }))) continue;
    failed.push(id);
    dispatcher.logger.warn(`task ${id} (${entry.taskName}) failed: ${reason}`, { taskId: id, taskName: entry.taskName, queue: queue.name });
    if (entry.parentId) await taskLog.settleParent(entry.parentId);
  }
  return failed;
}
