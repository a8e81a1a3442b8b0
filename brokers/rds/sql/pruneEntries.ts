import type { TaskStatus } from '../../../src/taskStatus';
import type { RdsConnection } from '../connection';

/** Rows deleted per statement: each chunk commits on its own, so writers wait at most for one. */
export const PRUNE_CHUNK = 1_000;

/**
 * Deletes the entries in one of `statuses` that ended (finished_at, else updated_at) before
 * `olderThanMs`, PRUNE_CHUNK rows a statement until fewer are left; returns how many went.
 * MySQL takes DELETE … LIMIT but no LIMIT in an IN subquery; PostgreSQL is the other way round;
 * SQLite takes the subquery.
 */
export async function pruneEntries(db: RdsConnection, table: string, olderThanMs: number, statuses: readonly TaskStatus[], chunk = PRUNE_CHUNK): Promise<number> {
  if (statuses.length === 0) return 0;
  const t = db.quote(table);
  // A task that ended before the cutoff was created before it: created_at narrows the rows read
  // to the (status, created_at) index's. (Where clocks disagree, a row is pruned a little later.)
  const ended = `status IN (${statuses.map(() => '?').join(', ')}) AND created_at < ? AND COALESCE(finished_at, updated_at) < ?`;
  const sql = db.dialect === 'mysql' ? `DELETE FROM ${t} WHERE ${ended} LIMIT ${chunk}` : `DELETE FROM ${t} WHERE id IN (SELECT id FROM ${t} WHERE ${ended} LIMIT ${chunk})`;
  let pruned = 0;
  for (;;) {
    const deleted = await db.exec.run(sql, [...statuses, olderThanMs, olderThanMs]);
    pruned += deleted;
    if (deleted < chunk) return pruned;
  }
}
