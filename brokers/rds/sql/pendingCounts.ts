import type { PendingCount } from '../../../src/taskLog/taskLogBroker';
import { TaskStatus } from '../../../src/taskStatus';
import type { RdsConnection } from '../connection';

interface Row {
  queue: string | null;
  task_name: string;
  waiting: number | string | null;
  running: number | string | null;
  oldest_waiting: number | string | null;
}

/**
 * The waiting (enqueued, dequeued) and running entries per queue and task name, in one GROUP BY
 * on the status index: ended entries, the bulk of a log, are never read.
 */
export async function pendingCounts(db: RdsConnection, table: string): Promise<PendingCount[]> {
  const rows = await db.exec.all<Row>(
    `SELECT queue, task_name,
       SUM(CASE WHEN status = ? THEN 0 ELSE 1 END) AS waiting,
       SUM(CASE WHEN status = ? THEN 1 ELSE 0 END) AS running,
       MIN(CASE WHEN status = ? THEN NULL ELSE created_at END) AS oldest_waiting
     FROM ${db.quote(table)} WHERE status IN (?, ?, ?) GROUP BY queue, task_name`,
    [TaskStatus.Running, TaskStatus.Running, TaskStatus.Running, TaskStatus.Enqueued, TaskStatus.Dequeued, TaskStatus.Running],
  );
  return rows.map((row) => ({
    queue: row.queue,
    taskName: row.task_name,
    waiting: Number(row.waiting ?? 0),
    running: Number(row.running ?? 0),
    oldestWaitingAt: row.oldest_waiting === null ? null : new Date(Number(row.oldest_waiting)),
  }));
}
