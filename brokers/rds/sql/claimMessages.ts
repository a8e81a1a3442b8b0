import type { RdsConnection } from '../connection';
import { retryDeadlocks } from '../retryDeadlocks';
import { requireSkipLocked } from './requireSkipLocked';

export interface ClaimedRow {
  id: number | string;
  task_id: string;
  body: string;
  receive_count: number;
}

/**
 * Leases up to `max` visible messages of `queue` atomically, oldest visible first: each gets
 * `visible_at = reserved_until =` the database's now + `leaseMs`, and one more receive.
 * SQLite serialises writers, so one UPDATE … RETURNING is atomic. PostgreSQL takes the rows with
 * FOR UPDATE SKIP LOCKED so concurrent workers never wait on each other; MySQL/MariaDB, which
 * have no UPDATE … RETURNING, select and update in one transaction (again if it was a deadlock's
 * victim).
 */
export async function claimMessages(db: RdsConnection, table: string, queue: string, max: number, leaseMs: number): Promise<ClaimedRow[]> {
  const t = db.quote(table);
  if (db.dialect !== 'mysql') {
    const lock = db.dialect === 'postgres' ? ' FOR UPDATE SKIP LOCKED' : '';
    const rows = await db.exec.all<ClaimedRow>(
      `UPDATE ${t} SET visible_at = ${db.now} + ?, reserved_until = ${db.now} + ?, receive_count = receive_count + 1
       WHERE id IN (SELECT id FROM ${t} WHERE queue = ? AND visible_at <= ${db.now} ORDER BY visible_at, id LIMIT ?${lock})
       RETURNING id, task_id, body, receive_count`,
      [leaseMs, leaseMs, queue, max],
    );
    // RETURNING gives no order; ids grow with time, so this is the queue's order but for releases.
    return rows.sort((a, b) => Number(a.id) - Number(b.id));
  }
  await requireSkipLocked(db);
  // Two claims' row locks (and a release's) can meet in a deadlock on a busy table; InnoDB rolls
  // the victim's transaction back whole, so claiming again takes nothing twice.
  return retryDeadlocks(() => db.knex.transaction(async (trx) => {
    const ids = (await trx(table).select('id').where('queue', queue).andWhere('visible_at', '<=', trx.raw(db.now)).orderBy([{ column: 'visible_at' }, { column: 'id' }]).limit(max).forUpdate().skipLocked()).map((r: { id: number }) => r.id);
    if (ids.length === 0) return [];
    const leaseEnd = trx.raw(`${db.now} + ?`, [leaseMs]);
    await trx(table).whereIn('id', ids).update({ visible_at: leaseEnd, reserved_until: leaseEnd, receive_count: trx.raw('receive_count + 1') });
    return trx(table).select('id', 'task_id', 'body', 'receive_count').whereIn('id', ids).orderBy('id');
  }));
}
