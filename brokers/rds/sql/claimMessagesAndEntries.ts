import type { ClaimResult } from '../../../src/taskLog/taskLogBroker';
import { TaskStatus } from '../../../src/taskStatus';
import type { RdsConnection } from '../connection';
import type { ClaimedRow as MessageRow } from './claimMessages';
import { CLAIMED_COLUMNS, type ClaimedRow as EntryRow, claimUpdateWhere, claimedOf } from './claimUpdate';

export interface MessageWithClaim {
  row: MessageRow;
  /** Its task's claim, or null when the entry was not claimed (missing, running, ended, or claimed for an earlier message of the batch). */
  claim: ClaimResult | null;
}

/**
 * PostgreSQL: leases up to `max` visible messages of `queue` (as claimMessages does) and, in the
 * same statement, claims their tasks' entries in the task log `logTable` for `workerId`, leased
 * for `taskLeaseMs` (as claimEntries does): one round trip and one commit where a receive and a
 * claim made two. Oldest first, as claimMessages.
 *
 * Both tables are written in one statement, so its row locks are taken in one transaction: two
 * such statements can deadlock only over entries both hold messages of (duplicate messages of
 * two tasks, in opposite orders); PostgreSQL then rolls one back whole, which is tried again.
 */
export async function claimMessagesAndEntries(db: RdsConnection, table: string, logTable: string, queue: string, max: number, leaseMs: number, workerId: string, taskLeaseMs: number): Promise<MessageWithClaim[]> {
  const t = db.quote(table);
  const now = db.now;
  // Never a task this worker runs itself (its lease lapsed while the event loop was blocked): the
  // worker keeps running it, and a claim here would take the task from under that run. Never a
  // task that must be claimed at its start (see TaskRunner.claimAhead): a unique task's (its key
  // must stay held until its revision is checked), nor one with prerequisites or a revision,
  // which only their message says: a body naming the key is passed over (a params key of that
  // name too, which only costs that task the claim at its start; inside a JSON string the
  // quotes would be escaped).
  const which = {
    sql: `id IN (SELECT task_id FROM received WHERE strpos(body, '"after":') = 0 AND strpos(body, '"revision":') = 0) AND unique_key IS NULL AND NOT (status = ? AND worker_id = ?)`,
    bindings: [TaskStatus.Running, workerId],
  };
  const claim = claimUpdateWhere(db, logTable, which, workerId, taskLeaseMs);
  const sql = `WITH received AS (
      UPDATE ${t} SET visible_at = ${now} + ?, reserved_until = ${now} + ?, receive_count = receive_count + 1
      WHERE id IN (SELECT id FROM ${t} WHERE queue = ? AND visible_at <= ${now} ORDER BY visible_at, id LIMIT ? FOR UPDATE SKIP LOCKED)
      RETURNING id, task_id, body, receive_count
    ), claimed AS (${claim.sql} RETURNING id, ${CLAIMED_COLUMNS})
    SELECT received.id, received.task_id, received.body, received.receive_count, claimed.id AS claimed_id, claimed.attempts, claimed.stalls, claimed.stalled_at
    FROM received LEFT JOIN claimed ON claimed.id = received.task_id`;
  const rows = await db.exec.all<MessageRow & Partial<EntryRow> & { claimed_id: string | null }>(sql, [leaseMs, leaseMs, queue, max, ...claim.bindings]);
  // RETURNING gives no order; ids grow with time, so this is the queue's order but for releases.
  rows.sort((a, b) => Number(a.id) - Number(b.id));
  const claimedTasks = new Set<string>();
  return rows.map((r) => {
    const row: MessageRow = { id: r.id, task_id: r.task_id, body: r.body, receive_count: r.receive_count };
    // Two messages of one task: the first one's delivery holds the claim, the second looks alone (busy).
    if (r.claimed_id === null || claimedTasks.has(r.claimed_id)) return { row, claim: null };
    claimedTasks.add(r.claimed_id);
    return { row, claim: claimedOf(r as EntryRow) };
  });
}
