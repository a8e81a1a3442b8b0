import type { RdsConnection } from '../connection';

/** Drops the workers' rows not seen for `olderThanMs`, on the database's clock; returns how many. */
export function removeWorkers(db: RdsConnection, table: string, olderThanMs: number): Promise<number> {
  return db.exec.run(`DELETE FROM ${db.quote(table)} WHERE last_seen_at < ${db.now} - ?`, [olderThanMs]);
}
