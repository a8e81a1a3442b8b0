import type { TaskStatus } from '../../../src/taskStatus';
import type { RdsConnection } from '../connection';
import type { SqlValue } from '../sqlExecutor';

/** One run's end: its entry, the claim it ran under, and its report. */
export interface FinishedRun {
  id: string;
  workerId: string;
  attempt: number;
  report: string;
}

/** The change every run of one batch makes (they are batched by it). */
export interface FinishShape {
  from: readonly TaskStatus[];
  to: TaskStatus;
  finished: boolean;
  releaseLease: boolean;
}

/**
 * Writes the ends of several runs in one statement: each entry moves from one of `from` to `to`
 * with its own report, only while still held by the claim its run had (worker and attempt: the
 * fencing rule). Returns, in order, whether each entry changed. PostgreSQL and SQLite
 * (UPDATE … FROM … RETURNING); MySQL writes them one by one. With `notify` (PostgreSQL), the
 * same statement NOTIFYs the table's channel with the ids that ended, as a JSON array (empty,
 * "look at every one", past NOTIFY's 8000-byte payload limit), sent on commit.
 */
export async function finishEntries(db: RdsConnection, table: string, shape: FinishShape, runs: readonly FinishedRun[], notify = false): Promise<boolean[]> {
  const t = db.quote(table);
  const now = db.now;
  // As in claimEntries: the ids looked up, not the status index walked.
  const status = db.unindexed(`${t}.status`);
  const sets = ['status = ?', `updated_at = ${now}`, 'report = runs.report'];
  if (shape.finished) sets.push(`finished_at = ${now}`);
  if (shape.finished || shape.releaseLease) sets.push('lease_until = NULL');
  if (shape.releaseLease) sets.push('worker_id = NULL');
  // The CTE's column list names the VALUES columns on both dialects; the cast types the attempt
  // for PostgreSQL, which reads untyped parameters as text.
  const values = runs.map(() => '(?, ?, CAST(? AS INTEGER), ?)').join(', ');
  const bindings: SqlValue[] = [...runs.flatMap((r) => [r.id, r.workerId, r.attempt, r.report]), shape.to, ...shape.from];
  const update = `UPDATE ${t} SET ${sets.join(', ')} FROM runs
     WHERE ${t}.id = runs.id AND ${t}.worker_id = runs.worker_id AND ${t}.attempts = runs.attempt AND ${status} IN (${shape.from.map(() => '?').join(', ')})
     RETURNING ${t}.id`;
  const rows = await db.exec.all<{ id: string }>(
    notify
      ? // The notification is an InitPlan: computed once, and only when a row ended.
        `WITH runs (id, worker_id, attempt, report) AS (VALUES ${values}), ended AS (${update})
         SELECT id, (SELECT pg_notify(?, CASE WHEN length(ids) <= 7900 THEN ids ELSE '' END) FROM (SELECT json_agg(id)::text AS ids FROM ended) AS agg) AS notified FROM ended`
      : `WITH runs (id, worker_id, attempt, report) AS (VALUES ${values}) ${update}`,
    notify ? [...bindings, table] : bindings,
  );
  const changed = new Set(rows.map((r) => r.id));
  return runs.map((r) => changed.has(r.id));
}
