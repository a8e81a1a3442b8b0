import { TaskStatus } from '../../../src/taskStatus';
import type { RdsConnection } from '../connection';
import type { SqlStatement } from '../sqlExecutor';

/**
 * The UPDATE every claim makes (one entry, several, or under limits): the entries among `ids` that
 * are enqueued, dequeued, or running under a lease that has run out move to running for
 * `workerId`, leased for `leaseMs` on the database's clock, one attempt more, and one stall more
 * when taken over from a lapsed lease. `stalled_at` says whether the run took the task over:
 * the claim's time if it did, NULL if not (claimedOf). Every SET reads the row as it was (MySQL
 * reads earlier assignments: stalls and stalled_at go first).
 * `statusColumn`: the status as the WHERE reads it (claimEntries keeps SQLite off the status index).
 */
export function claimUpdate(db: RdsConnection, table: string, ids: readonly string[], workerId: string, leaseMs: number, statusColumn = 'status'): SqlStatement {
  const idCondition = ids.length === 1 ? 'id = ?' : `id IN (${ids.map(() => '?').join(', ')})`;
  return claimUpdateWhere(db, table, { sql: idCondition, bindings: [...ids] }, workerId, leaseMs, statusColumn);
}

/** claimUpdate of the entries `which` picks (a condition on `id`, e.g. `id IN (SELECT … )`). */
export function claimUpdateWhere(db: RdsConnection, table: string, which: SqlStatement, workerId: string, leaseMs: number, statusColumn = 'status'): SqlStatement {
  const now = db.now;
  const status = statusColumn;
  return {
    sql: `UPDATE ${db.quote(table)} SET stalls = stalls + CASE WHEN status = ? THEN 1 ELSE 0 END,
      stalled_at = CASE WHEN status = ? THEN ${now} END, status = ?, worker_id = ?,
      lease_until = ${now} + ?, attempts = attempts + 1, started_at = ${now}, updated_at = ${now}
      WHERE ${which.sql} AND (${status} IN (?, ?) OR (${status} = ? AND lease_until < ${now}))`,
    bindings: [TaskStatus.Running, TaskStatus.Running, TaskStatus.Running, workerId, leaseMs, ...which.bindings, TaskStatus.Enqueued, TaskStatus.Dequeued, TaskStatus.Running],
  };
}

/** The columns a claim reads back (RETURNING, or a SELECT after it on MySQL). */
export const CLAIMED_COLUMNS = 'attempts, stalls, stalled_at';

export interface ClaimedRow {
  attempts: number | string;
  stalls: number | string;
  stalled_at: number | string | null;
}

/** The claim a row read back after claimUpdate says was made. */
export function claimedOf(row: ClaimedRow): { outcome: 'claimed'; attempt: number; stalls: number; tookOver: boolean } {
  return { outcome: 'claimed', attempt: Number(row.attempts), stalls: Number(row.stalls), tookOver: row.stalled_at !== null };
}
