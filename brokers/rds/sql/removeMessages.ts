import type { RdsConnection } from '../connection';

/** Task ids per DELETE … IN (…). */
const ID_CHUNK = 200;

/**
 * Deletes the messages of the tasks `taskIds` from `queue`, whether waiting, delayed or leased;
 * returns how many. A worker holding one of them acknowledges a row that is gone: a no-op.
 */
export async function removeMessages(db: RdsConnection, table: string, queue: string, taskIds: readonly string[]): Promise<number> {
  let removed = 0;
  for (let i = 0; i < taskIds.length; i += ID_CHUNK) {
    const chunk = taskIds.slice(i, i + ID_CHUNK);
    removed += await db.exec.run(`DELETE FROM ${db.quote(table)} WHERE queue = ? AND task_id IN (${chunk.map(() => '?').join(', ')})`, [queue, ...chunk]);
  }
  return removed;
}
