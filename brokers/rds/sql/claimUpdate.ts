import { TaskStatus } from '../../../src/taskStatus';
import type { RdsConnection } from '../connection';
import type { SqlStatement } from '../sqlExecutor';

/**
 * The UPDATE every claim makes (one entry, several, or under limits): the entries among `ids` that
 * are enqueued, dequeued, or running under a lease that has run out move to running for
 * `workerId`, leased for `leaseMs` on the database's clock, one attempt more, and one stall more
 * when taken over from a lapsed lease. Every SET reads the row as it was (MySQL reads earlier
 * assignments: stalls goes first). `statusColumn`: the status as the WHERE reads it (claimEntries
 * keeps SQLite off the status index).
 */
export function claimUpdate(db: RdsConnection, table: string, ids: readonly string[], workerId: string, leaseMs: number, statusColumn = 'status'): SqlStatement {
  const now = db.now;
  const status = statusColumn;
  const idCondition = ids.length === 1 ? 'id = ?' : `id IN (${ids.map(() => '?').join(', ')})`;
  return {
    sql: `UPDATE ${db.quote(table)} SET stalls = stalls + CASE WHEN status = ? THEN 1 ELSE 0 END, status = ?, worker_id = ?,
      lease_until = ${now} + ?, attempts = attempts + 1, started_at = ${now}, updated_at = ${now}
      WHERE ${idCondition} AND (${status} IN (?, ?) OR (${status} = ? AND lease_until < ${now}))`,
    bindings: [TaskStatus.Running, TaskStatus.Running, workerId, leaseMs, ...ids, TaskStatus.Enqueued, TaskStatus.Dequeued, TaskStatus.Running],
  };
}
