import { CONCURRENCY_RETRY_MS, type ClaimLimits, rateWaitMs } from '../../../src/taskLimits';
import type { ClaimResult } from '../../../src/taskLog/taskLogBroker';
import { TaskStatus } from '../../../src/taskStatus';
import type { RdsConnection } from '../connection';
import { CLAIMED_COLUMNS, type ClaimedRow, claimUpdate, claimedOf } from './claimUpdate';

/**
 * Claims one entry within `limits`, in one transaction under a database-wide lock (PostgreSQL's
 * advisory lock, MySQL's GET_LOCK, SQLite's write lock): the rate window's starts and the running
 * entries of the task are counted, and the claim made, with no other limited claim in between,
 * so the limits hold across every worker and host. One lock for every limit of the log keeps it
 * simple and deadlock-free; limited tasks are the few whose starts are meant to be slow.
 * Returns `limited` when a limit is full, the claim when made, undefined when the entry cannot
 * be claimed at all (missing, running, ended: the caller says which, as for any claim).
 */
export function claimLimited(db: RdsConnection, table: string, startsTable: string, id: string, workerId: string, leaseMs: number, limits: ClaimLimits): Promise<ClaimResult | undefined> {
  const t = db.quote(table);
  const starts = db.quote(startsTable);
  return db.exec.exclusive(`taskq limits ${table}`, async (session) => {
    const [clock] = await session.all<{ now: number | string }>(`SELECT ${db.now} AS now`);
    const now = Number(clock.now);
    const [entry] = await session.all<{ status: string; lease_until: number | string | null }>(`SELECT status, lease_until FROM ${t} WHERE id = ?`, [id]);
    const claimable = entry && (entry.status === TaskStatus.Enqueued || entry.status === TaskStatus.Dequeued || (entry.status === TaskStatus.Running && Number(entry.lease_until) < now));
    if (!claimable) return undefined;

    let wait = 0;
    if (limits.rate) {
      const { key, perMs } = limits.rate;
      await session.run(`DELETE FROM ${starts} WHERE limit_key = ? AND started_at <= ?`, [key, now - perMs]);
      const rows = await session.all<{ started_at: number | string }>(`SELECT started_at FROM ${starts} WHERE limit_key = ?`, [key]);
      wait = rateWaitMs(rows.map((row) => Number(row.started_at)), limits.rate, now);
    }
    if (limits.concurrency) {
      const [running] = await session.all<{ n: number | string }>(`SELECT COUNT(*) AS n FROM ${t} WHERE status = ? AND task_name = ? AND lease_until >= ? AND id <> ?`, [
        TaskStatus.Running,
        limits.concurrency.taskName,
        now,
        id,
      ]);
      if (Number(running.n) >= limits.concurrency.max) wait = Math.max(wait, CONCURRENCY_RETRY_MS);
    }
    if (wait > 0) return { outcome: 'limited', retryAfterMs: wait };

    // Timed by this statement, not by the read above: a run that ended after that read, and was
    // counted as ended, ended before this start.
    const claim = claimUpdate(db, table, [id], workerId, leaseMs);
    const claimed = await session.run(claim.sql, claim.bindings);
    if (claimed !== 1) return undefined;
    // Never earlier than the time the window was counted at, so the window only errs on the safe side.
    if (limits.rate) await session.run(`INSERT INTO ${starts} (limit_key, started_at) VALUES (?, ${db.now})`, [limits.rate.key]);
    const [row] = await session.all<ClaimedRow>(`SELECT ${CLAIMED_COLUMNS} FROM ${t} WHERE id = ?`, [id]);
    return claimedOf(row);
  });
}
