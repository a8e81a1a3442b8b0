import type { Knex } from 'knex';
import type { JsonValue } from '../../src/json';
import type { ReportData } from '../../src/report';
import type { ClaimResult, StatusChange, TaskHolder, TaskLogBroker, UniqueAddResult } from '../../src/taskLog/taskLogBroker';
import type { NewTaskLogEntry, TaskLogEntry } from '../../src/taskLog/taskLogEntry';
import { DuplicateTaskIdError, TaskqError } from '../../src/errors';
import { TaskLogFilter } from '../../src/taskLog/taskLogFilter';
import { FINAL_STATUSES, TaskStatus } from '../../src/taskStatus';
import { type RdsConnection, checkTableName } from './connection';
import { PgNotifications } from './pgNotifications';
import { isDeadlock } from './retryDeadlocks';
import { RdsClient } from './rdsClient';
import { SqlTextCache } from './sqlTextCache';
import { PENDING_SQL, createTaskLogTable, createTaskStartsTable, taskStartsTableOf } from './schema';
import { CallBatcher } from '../../src/callBatcher';
import type { ClaimLimits } from '../../src/taskLimits';
import { applyConditions, applyPaging } from './sql/applyTaskLogFilter';
import { claimEntries } from './sql/claimEntries';
import { CLAIMED_COLUMNS, type ClaimedRow, claimUpdate, claimedOf } from './sql/claimUpdate';
import { claimLimited } from './sql/claimLimited';
import { type FinishShape, type FinishedRun, finishEntries } from './sql/finishEntries';
import type { FinishedCount, PendingCount } from '../../src/taskLog/taskLogBroker';
import { pendingCounts } from './sql/pendingCounts';
import { countFinished } from './sql/countFinished';
import { countByStatus } from './sql/countByStatus';
import { pruneEntries } from './sql/pruneEntries';
import type { WorkerHeartbeat, WorkerRecord } from '../../src/taskLog/taskLogBroker';
import { createWorkersTable, workersTableOf } from './schema';
import { recordWorker } from './sql/recordWorker';
import { listWorkers } from './sql/listWorkers';
import { removeWorkers } from './sql/removeWorkers';
import { type SqlStatement, type SqlValue, runStatements } from './sqlExecutor';

export interface RdsTaskLogBrokerOptions {
  /** `sqlite:PATH` (default `sqlite:./taskq.db`), `postgres://…`, `mysql://…`. */
  connection?: string;
  table?: string;
  /**
   * PostgreSQL: NOTIFY on the table's channel when entries end, so `waitForEnd` (dispatcher.run)
   * wakes at once (default true). Off behind PgBouncer in transaction pooling, where LISTEN does not work.
   */
  notify?: boolean;
}

interface Row {
  id: string;
  parent_id: string | null;
  task_name: string;
  label: string;
  status: string;
  owner: string | null;
  queue: string | null;
  parameters: string | null;
  report: string | null;
  progress: string | null;
  attempts: number;
  stalls: number;
  worker_id: string | null;
  lease_until: number | string | null;
  created_at: number | string;
  updated_at: number | string;
  started_at: number | string | null;
  finished_at: number | string | null;
  archived_from: string | null;
}

/** Rows per INSERT: 13 parameters a row, far below every dialect's limit. */
const INSERT_CHUNK = 300;
const INSERT_COLUMNS = 'id, parent_id, task_name, label, status, owner, queue, parameters, report, attempts, created_at, updated_at, finished_at';
const INSERT_ROW = '(?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?, ?)';
/** The types of an inserted row's values, for PostgreSQL's unnest (see insertStatements). */
const UNNEST_TYPES = ['text', 'text', 'text', 'text', 'text', 'text', 'text', 'text', 'text', 'bigint', 'bigint', 'bigint'];

const date = (v: number | string | null): Date | null => (v === null ? null : new Date(Number(v)));
const json = (v: string | null): JsonValue => (v === null ? null : (JSON.parse(v) as JsonValue));
/** SQLite, PostgreSQL and MySQL's ways of saying a primary key is taken. */
const MYSQL_DUPLICATE_KEY = 1062;
/** Claims or run ends in one statement, at most (4 parameters a run end). */
const MAX_BATCH = 200;
const DUPLICATE_KEY = /UNIQUE constraint failed|duplicate key value violates unique constraint|Duplicate entry/;
/** SQLite, PostgreSQL and MySQL's ways of saying a unique index refused a row. */
export const isDuplicateKey = (error: unknown): boolean => DUPLICATE_KEY.test(String((error as Error | undefined)?.message));
/** Tries of a unique enqueue whose key's holder is taken by a worker under it, again and again. */
const UNIQUE_RETRIES = 4;
const marks = (n: number) => Array.from({ length: n }, () => '?').join(', ');

/** The task log in one SQL table. Every status change is a conditional UPDATE (compare-and-set). */
export class RdsTaskLogBroker implements TaskLogBroker {
  readonly type = 'rds';
  readonly table: string;
  private readonly client: RdsClient;
  private readonly insertSql = new SqlTextCache((rows) => this.insertText(rows, 'INSERT', ''));
  private readonly insertIfMissingSql = new SqlTextCache((rows) =>
    // Not INSERT IGNORE: that would also turn a value too long for its column into a warning.
    this.db.dialect === 'mysql' ? this.insertText(rows, 'INSERT', ' ON DUPLICATE KEY UPDATE id = id') : this.insertText(rows, 'INSERT', ' ON CONFLICT (id) DO NOTHING'),
  );

  /** By worker and lease: the claims, and the runs' ends by the change they make, of one turn. */
  private readonly claimBatchers = new Map<string, CallBatcher<string, ClaimResult | undefined>>();
  private readonly finishBatchers = new Map<string, CallBatcher<FinishedRun, boolean>>();

  private readonly notify: boolean;
  private endNotifications?: PgNotifications;

  constructor(options: RdsTaskLogBrokerOptions = {}) {
    this.client = new RdsClient(options.connection);
    this.table = checkTableName('table', options.table ?? 'taskq_task_log');
    this.notify = options.notify ?? true;
  }

  /** Ends are announced on the table's channel (PostgreSQL only). */
  private get notifiesEnds(): boolean {
    return this.notify && this.db.dialect === 'postgres';
  }

  async watchEnds(onEnded: (ids?: readonly string[]) => void): Promise<(() => Promise<void>) | undefined> {
    if (!this.notifiesEnds) return undefined;
    if (!this.endNotifications || this.endNotifications.isClosed) this.endNotifications = new PgNotifications(this.client.connectionString, this.table);
    return this.endNotifications.subscribe({ onNotification: (payload) => onEnded(endedIds(payload)), onError: () => undefined });
  }

  get connectionString(): string {
    return this.client.connectionString;
  }

  private get db(): RdsConnection {
    return this.client.db;
  }

  /**
   * Claims and run ends are batched on PostgreSQL, where each statement is a round trip. On SQLite
   * the cost is the commit (its pages written to the WAL), not the statement: the group commit
   * already makes a turn's claims, results and acknowledgements one transaction, and inside one
   * the batched statements measured no faster than the same work one statement a task (8 tasks a
   * turn: 25-36 vs 22-34 µs a task; sqlite-worker drain at c=8 within noise, 10-12k vs 11-13k).
   * MySQL has no UPDATE … RETURNING.
   */
  private get batches(): boolean {
    return this.db.dialect === 'postgres';
  }

  private get t(): string {
    return this.db.quote(this.table);
  }

  private insertClaimedText?: string;
  /** An entry inserted already claimed (attempt 1), unless one exists: see claim's `ifMissing`. */
  private get insertClaimedSql(): string {
    const now = this.db.now;
    // MySQL has no DO NOTHING that tells an insert from a row left alone (its affected rows are 1
    // for both with the FOUND_ROWS flag mysql2 sets): there, a duplicate key is caught instead.
    this.insertClaimedText ??=
      `INSERT INTO ${this.t} (id, parent_id, task_name, label, status, owner, queue, parameters, attempts, created_at, updated_at, worker_id, lease_until, started_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, 1, ?, ${now}, ?, ${now} + ?, ${now})${this.db.dialect === 'mysql' ? '' : ' ON CONFLICT (id) DO NOTHING'}`;
    return this.insertClaimedText;
  }

  /** Inserts the entry already claimed; 0 if it exists. */
  private async insertClaimed(e: NewTaskLogEntry, workerId: string, leaseMs: number): Promise<number> {
    const bindings = [e.id, e.parentId, e.taskName, e.label, TaskStatus.Running, e.owner, e.queue, JSON.stringify(e.parameters ?? null), e.createdAt.getTime(), workerId, leaseMs];
    try {
      return await this.db.exec.run(this.insertClaimedSql, bindings);
    } catch (error) {
      if (this.db.dialect === 'mysql' && (error as { errno?: number }).errno === MYSQL_DUPLICATE_KEY) return 0;
      throw error;
    }
  }

  /** Runs a query made with knex's builder on this broker's executor. */
  private async select<T>(query: Knex.QueryBuilder): Promise<T[]> {
    const { sql, bindings } = query.toSQL();
    return this.db.exec.all<T>(sql, bindings as SqlValue[]);
  }

  async createContainer(): Promise<void> {
    await createTaskLogTable(this.db, this.table);
    await createTaskStartsTable(this.db, taskStartsTableOf(this.table));
    await createWorkersTable(this.db, workersTableOf(this.table));
  }

  async dropContainer(): Promise<void> {
    await this.db.exec.run(`DROP TABLE IF EXISTS ${this.t}`);
    await this.db.exec.run(`DROP TABLE IF EXISTS ${this.db.quote(taskStartsTableOf(this.table))}`);
    await this.db.exec.run(`DROP TABLE IF EXISTS ${this.db.quote(workersTableOf(this.table))}`);
  }

  async add(entries: readonly NewTaskLogEntry[]): Promise<void> {
    try {
      await runStatements(this.db.exec, this.insertStatements(entries));
    } catch (error) {
      throw await this.explainInsertError(error, entries.map((e) => e.id));
    }
  }

  /**
   * What an insert of entries `ids` failed with, for the caller to throw: a DuplicateTaskIdError
   * naming the ids already present when it was a duplicate key (each database words it its own
   * way), else the error as it is.
   */
  async explainInsertError(error: unknown, ids: readonly string[]): Promise<unknown> {
    if (!isDuplicateKey(error)) return error;
    const taken: string[] = [];
    for (let i = 0; i < ids.length; i += MAX_BATCH) {
      const chunk = ids.slice(i, i + MAX_BATCH);
      for (const row of await this.db.exec.all<{ id: string }>(`SELECT id FROM ${this.t} WHERE id IN (${marks(chunk.length)})`, chunk)) taken.push(row.id);
    }
    if (taken.length > 0) return new DuplicateTaskIdError(taken);
    return new TaskqError(`A task id is already in the task log, nothing was added: ${(error as Error).message}`);
  }

  // ---- unique tasks (see schema.ts, addUniqueKeys) ---------------------------------------------

  /** Matches the pending entry holding a key (one `?`): the partial index, or MySQL's generated column. */
  private get pendingKey(): string {
    return this.db.dialect === 'mysql' ? 'unique_pending = ?' : `unique_key = ? AND ${PENDING_SQL}`;
  }

  /** The entry inserted holding `uniqueKey` at revision 0: a plain INSERT, so a held key or a taken id fails it. */
  uniqueInsertStatement(e: NewTaskLogEntry, uniqueKey: string): SqlStatement {
    const created = e.createdAt.getTime();
    return {
      sql: `INSERT INTO ${this.t} (${INSERT_COLUMNS}, unique_key, unique_revision) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?, ?, ?, 0)`,
      bindings: [e.id, e.parentId, e.taskName, e.label, e.status, e.owner, e.queue, JSON.stringify(e.parameters ?? null), e.report ? JSON.stringify(e.report) : null, created, created, null, uniqueKey],
    };
  }

  /** The pending entry holding `uniqueKey`, if any, and its revision. */
  async pendingUnique(uniqueKey: string): Promise<{ id: string; revision: number } | undefined> {
    const [row] = await this.db.exec.all<{ id: string; unique_revision: number | string }>(`SELECT id, unique_revision FROM ${this.t} WHERE ${this.pendingKey}`, [uniqueKey]);
    return row ? { id: row.id, revision: Number(row.unique_revision) } : undefined;
  }

  /**
   * The compare-and-set of a replace: the entry still pending, holding the key, at `revision`,
   * gets `parameters` and the next revision. Changes one row or none.
   */
  replaceStatement(id: string, revision: number, uniqueKey: string, parameters: string): SqlStatement {
    return {
      sql: `UPDATE ${this.t} SET parameters = ?, unique_revision = ?, updated_at = ${this.db.now} WHERE id = ? AND unique_revision = ? AND ${this.pendingKey}`,
      bindings: [parameters, revision + 1, id, revision, uniqueKey],
    };
  }

  /**
   * After an insert of a unique entry failed on a key: the pending task holding `uniqueKey`, or
   * a DuplicateTaskIdError if `id` is taken, or undefined when neither holds any more (the holder
   * was taken by a worker meanwhile: try again).
   */
  async uniqueConflict(id: string, uniqueKey: string): Promise<string | undefined> {
    const pending = await this.pendingUnique(uniqueKey);
    if (pending) return pending.id;
    const [row] = await this.db.exec.all(`SELECT id FROM ${this.t} WHERE id = ?`, [id]);
    if (row) throw new DuplicateTaskIdError([id]);
    return undefined;
  }

  async addUnique(entry: NewTaskLogEntry, uniqueKey: string): Promise<UniqueAddResult> {
    for (let attempt = 0; ; attempt++) {
      const insert = this.uniqueInsertStatement(entry, uniqueKey);
      try {
        await this.db.exec.run(insert.sql, insert.bindings);
        return { outcome: 'added' };
      } catch (error) {
        if (!isDuplicateKey(error) && !isDeadlock(error)) throw error;
      }
      const holder = await this.uniqueConflict(entry.id, uniqueKey);
      if (holder !== undefined) return { outcome: 'existing', id: holder };
      if (attempt >= UNIQUE_RETRIES) throw new TaskqError(`Unique key ${JSON.stringify(uniqueKey)}: its pending task kept changing under ${UNIQUE_RETRIES + 1} tries to add one; try again`);
    }
  }

  /**
   * A unique entry's revision. A replace whose CAS lost to another replace reads it: concurrent
   * replaces are ordered, the last one's params kept, as if the loser had come just before.
   */
  async revisionOf(id: string): Promise<number | undefined> {
    const [row] = await this.db.exec.all<{ unique_revision: number | string }>(`SELECT unique_revision FROM ${this.t} WHERE id = ?`, [id]);
    return row ? Number(row.unique_revision) : undefined;
  }

  async replaceUnique(uniqueKey: string, parameters: JsonValue): Promise<{ id: string; revision: number; superseded?: true } | null> {
    const text = JSON.stringify(parameters ?? null);
    for (let attempt = 0; attempt <= UNIQUE_RETRIES; attempt++) {
      const pending = await this.pendingUnique(uniqueKey);
      if (!pending) return null;
      const update = this.replaceStatement(pending.id, pending.revision, uniqueKey, text);
      if ((await this.db.exec.run(update.sql, update.bindings)) === 1) return { id: pending.id, revision: pending.revision + 1 };
      const revision = await this.revisionOf(pending.id);
      if (revision !== undefined && revision > pending.revision) return { id: pending.id, revision, superseded: true };
    }
    throw new TaskqError(`Unique key ${JSON.stringify(uniqueKey)}: its pending task kept changing under ${UNIQUE_RETRIES + 1} tries to replace it; try again`);
  }

  async takeUnique(id: string, revision: number): Promise<boolean> {
    // Rows matched, not changed, on every dialect (mysql2 sets FOUND_ROWS): 1 also on a redelivery.
    if ((await this.db.exec.run(`UPDATE ${this.t} SET unique_key = NULL WHERE id = ? AND unique_revision <= ?`, [id, revision])) > 0) return true;
    // Replaced since (a newer revision), or no entry at all (then the claim sees to it).
    const [row] = await this.db.exec.all(`SELECT id FROM ${this.t} WHERE id = ?`, [id]);
    return !row;
  }

  async addIfMissing(entries: readonly NewTaskLogEntry[]): Promise<void> {
    await runStatements(this.db.exec, this.insertStatements(entries, { ignoreExisting: true }));
  }

  /**
   * The INSERTs that add `entries`, for this broker to run or for a queue broker on the same
   * database to run in one transaction with its messages (an atomic enqueue).
   */
  insertStatements(entries: readonly NewTaskLogEntry[], options: { ignoreExisting?: boolean } = {}): SqlStatement[] {
    const rowOf = (e: NewTaskLogEntry): (string | number | null)[] => {
      const created = e.createdAt.getTime();
      return [e.id, e.parentId, e.taskName, e.label, e.status, e.owner, e.queue, JSON.stringify(e.parameters ?? null), e.report ? JSON.stringify(e.report) : null, created, created, e.status === TaskStatus.Failed ? created : null];
    };
    if (this.db.dialect === 'postgres') {
      // One statement whatever the count, each column one array parameter: PostgreSQL parses
      // and plans it in a fraction of a VALUES list's time (2-2.5x the rows/s, measured).
      const rows = entries.map(rowOf);
      const conflict = options.ignoreExisting ? ' ON CONFLICT (id) DO NOTHING' : '';
      return [{ sql: `${this.unnestInsertSql}${conflict}`, bindings: UNNEST_TYPES.map((_, column) => rows.map((row) => row[column])) }];
    }
    const statements: SqlStatement[] = [];
    const texts = options.ignoreExisting ? this.insertIfMissingSql : this.insertSql;
    for (let i = 0; i < entries.length; i += INSERT_CHUNK) {
      const chunk = entries.slice(i, i + INSERT_CHUNK);
      statements.push({ sql: texts.get(chunk.length), bindings: chunk.flatMap(rowOf) });
    }
    return statements;
  }

  /** PostgreSQL's bulk insert: the columns of rowOf, as arrays. */
  private get unnestInsertSql(): string {
    const columns = 'id, parent_id, task_name, label, status, owner, queue, parameters, report, created_at, updated_at, finished_at';
    return `INSERT INTO ${this.t} (${INSERT_COLUMNS}) SELECT id, parent_id, task_name, label, status, owner, queue, parameters, report, 0, created_at, updated_at, finished_at
      FROM unnest(${UNNEST_TYPES.map((type) => `?::${type}[]`).join(', ')}) WITH ORDINALITY AS e(${columns}, n) ORDER BY n`;
  }

  private insertText(rows: number, verb: string, conflict: string): string {
    return `${verb} INTO ${this.t} (${INSERT_COLUMNS}) VALUES ${Array.from({ length: rows }, () => INSERT_ROW).join(', ')}${conflict}`;
  }

  /** The database this broker writes to, for a queue broker that wants to share a transaction. */
  get database(): RdsConnection {
    return this.db;
  }


  async markDequeued(ids: readonly string[]): Promise<void> {
    await this.db.exec.run(`UPDATE ${this.t} SET status = ?, updated_at = ${this.db.now} WHERE id IN (${marks(ids.length)}) AND ${this.db.unindexed('status')} IN (?, ?)`, [TaskStatus.Dequeued, ...ids, TaskStatus.Enqueued, TaskStatus.Dequeued]);
  }

  async claim(id: string, workerId: string, leaseMs: number, ifMissing?: NewTaskLogEntry, limits?: ClaimLimits): Promise<ClaimResult> {
    if (limits) {
      // Inserted first where missing, so that the limited claim below is the only way in.
      if (ifMissing) await this.addIfMissing([ifMissing]);
      const limited = await claimLimited(this.db, this.table, taskStartsTableOf(this.table), id, workerId, leaseMs, limits);
      if (limited) return limited;
      return this.whyNotClaimed(id);
    }
    const claimed = this.batches ? await this.claimBatcher(workerId, leaseMs).add(id) : await this.claimExisting(id, workerId, leaseMs);
    if (claimed) return claimed;
    if (ifMissing) {
      // The race the caller expects (its message came before its entry was written): the entry,
      // already claimed, in one statement. Should it have been written meanwhile, nothing is
      // inserted and the claim is tried again. The entry is usually there: this comes second.
      const inserted = await this.insertClaimed(ifMissing, workerId, leaseMs);
      if (inserted === 1) return { outcome: 'claimed', attempt: 1, stalls: 0, tookOver: false };
      const claimedNow = await this.claimExisting(id, workerId, leaseMs);
      if (claimedNow) return claimedNow;
    }
    return this.whyNotClaimed(id);
  }

  /** What a claim that did not apply found: the entry missing, running under a live lease, or ended. */
  private async whyNotClaimed(id: string): Promise<ClaimResult> {
    const now = this.db.now;
    const [row] = await this.db.exec.all<{ status: string; lease_left: number | string | null }>(`SELECT status, lease_until - ${now} AS lease_left FROM ${this.t} WHERE id = ?`, [id]);
    if (!row) return { outcome: 'missing' };
    if (row.status === TaskStatus.Running) return { outcome: 'busy', retryAfterMs: Math.max(0, Number(row.lease_left ?? 0)) };
    return { outcome: 'not-runnable', status: row.status as TaskStatus };
  }

  /** The claims of one worker (with one lease) made in one turn: one statement (see claimEntries). */
  private claimBatcher(workerId: string, leaseMs: number): CallBatcher<string, ClaimResult | undefined> {
    const key = `${leaseMs}:${workerId}`;
    let batcher = this.claimBatchers.get(key);
    if (!batcher) {
      batcher = new CallBatcher((ids) => claimEntries(this.db, this.table, ids, workerId, leaseMs), MAX_BATCH);
      this.claimBatchers.set(key, batcher);
    }
    return batcher;
  }

  /** Moves an existing entry to running if it can run now; undefined if none did. */
  private async claimExisting(id: string, workerId: string, leaseMs: number): Promise<ClaimResult | undefined> {
    const { sql, bindings } = claimUpdate(this.db, this.table, [id], workerId, leaseMs);
    let claimed: ClaimedRow | undefined;
    if (this.db.dialect === 'mysql') {
      if ((await this.db.exec.run(sql, bindings)) === 1) [claimed] = await this.db.exec.all<ClaimedRow>(`SELECT ${CLAIMED_COLUMNS} FROM ${this.t} WHERE id = ?`, [id]);
    } else {
      [claimed] = await this.db.exec.all<ClaimedRow>(`${sql} RETURNING ${CLAIMED_COLUMNS}`, bindings);
    }
    return claimed ? claimedOf(claimed) : undefined;
  }

  async renewLeases(workerId: string, claims: readonly { id: string; attempt: number }[], leaseMs: number): Promise<string[]> {
    const where = `WHERE worker_id = ? AND ${this.db.unindexed('status')} = ? AND (${claims.map(() => '(id = ? AND attempts = ?)').join(' OR ')})`;
    const whereBindings = [workerId, TaskStatus.Running, ...claims.flatMap((c) => [c.id, c.attempt])];
    const update = `UPDATE ${this.t} SET lease_until = ${this.db.now} + ? ${where}`;
    if (this.db.dialect === 'mysql') {
      await this.db.exec.run(update, [leaseMs, ...whereBindings]);
      return (await this.db.exec.all<{ id: string }>(`SELECT id FROM ${this.t} ${where}`, whereBindings)).map((r) => r.id);
    }
    return (await this.db.exec.all<{ id: string }>(`${update} RETURNING id`, [leaseMs, ...whereBindings])).map((r) => r.id);
  }

  async changeStatus(id: string, change: StatusChange): Promise<boolean> {
    // A run's end (held, with its report): gathered with the others of this turn into one statement.
    if (this.batches && change.holder && typeof change.report === 'string' && change.to !== TaskStatus.Archived) {
      const shape: FinishShape = { from: change.from, to: change.to, finished: change.finished === true, releaseLease: change.releaseLease === true };
      const key = JSON.stringify(shape);
      let batcher = this.finishBatchers.get(key);
      if (!batcher) {
        batcher = new CallBatcher((runs) => this.finishRuns(shape, runs), MAX_BATCH);
        this.finishBatchers.set(key, batcher);
      }
      const report = change.report;
      return batcher.add({ id, workerId: change.holder.workerId, attempt: change.holder.attempt, report });
    }
    return this.changeOne(id, change);
  }

  /** One statement for the batch; should an id come twice, each its own (the statement would tell both "changed"). */
  private async finishRuns(shape: FinishShape, runs: FinishedRun[]): Promise<boolean[]> {
    if (new Set(runs.map((r) => r.id)).size === runs.length) return finishEntries(this.db, this.table, shape, runs, this.notifiesEnds && FINAL_STATUSES.includes(shape.to));
    const results: boolean[] = [];
    for (const r of runs) results.push(await this.changeOne(r.id, { ...shape, holder: { workerId: r.workerId, attempt: r.attempt }, report: r.report }));
    return results;
  }

  private async changeOne(id: string, change: StatusChange): Promise<boolean> {
    const now = this.db.now;
    // archived_from reads the status before this change: it goes first (see claim).
    const sets = change.to === TaskStatus.Archived ? ['archived_from = status'] : [];
    sets.push('status = ?', `updated_at = ${now}`);
    const bindings: SqlValue[] = [change.to];
    if (change.report !== undefined) {
      sets.push('report = ?');
      bindings.push(change.report);
    }
    if (change.finished) sets.push(`finished_at = ${now}`);
    if (change.finished || change.releaseLease) sets.push('lease_until = NULL');
    if (change.releaseLease) sets.push('worker_id = NULL');
    if (change.undoClaim) {
      sets.push('attempts = attempts - 1', 'stalls = stalls - ?', 'stalled_at = NULL');
      bindings.push(change.undoClaim.tookOver ? 1 : 0);
    }
    // A key is held while pending only: a task cancelled before it started, then rerun, holds none.
    if (change.to !== TaskStatus.Enqueued && change.to !== TaskStatus.Dequeued) sets.push('unique_key = NULL');
    let where = `WHERE id = ? AND status IN (${marks(change.from.length)})`;
    bindings.push(id, ...change.from);
    if (change.holder) {
      where += ' AND worker_id = ? AND attempts = ?';
      bindings.push(change.holder.workerId, change.holder.attempt);
    }
    const changed = (await this.db.exec.run(`UPDATE ${this.t} SET ${sets.join(', ')} ${where}`, bindings)) === 1;
    // Rare paths (a cancel, an archive, a parent settled, a failure recorded): a statement of its own.
    if (changed && this.notifiesEnds && FINAL_STATUSES.includes(change.to)) await this.db.exec.run('SELECT pg_notify(?, ?)', [this.table, JSON.stringify([id])]);
    return changed;
  }

  async setProgress(id: string, holder: TaskHolder, progress: JsonValue): Promise<void> {
    await this.db.exec.run(`UPDATE ${this.t} SET progress = ?, updated_at = ${this.db.now} WHERE id = ? AND worker_id = ? AND attempts = ? AND status = ?`, [JSON.stringify(progress), id, holder.workerId, holder.attempt, TaskStatus.Running]);
  }

  async get(id: string): Promise<TaskLogEntry | null> {
    const [row] = await this.db.exec.all<Row>(`SELECT * FROM ${this.t} WHERE id = ?`, [id]);
    return row ? toEntry(row) : null;
  }

  async search(filter: TaskLogFilter): Promise<TaskLogEntry[]> {
    const snapshot = TaskLogFilter.snapshot(filter);
    const query = applyConditions(this.db.knex(this.table).select('*'), snapshot.conditions, this.db.dialect);
    const rows = await this.select<Row>(applyPaging(query, snapshot, this.db.dialect));
    return rows.map(toEntry);
  }

  async count(filter: TaskLogFilter): Promise<number> {
    const { conditions } = TaskLogFilter.snapshot(filter);
    const [row] = await this.select<{ n: number | string }>(applyConditions(this.db.knex(this.table).count({ n: '*' }), conditions, this.db.dialect));
    return Number(row?.n ?? 0);
  }

  // async: a forged filter's snapshot error comes as a rejection, as from every other read.
  async countByStatus(filter: TaskLogFilter): Promise<Partial<Record<TaskStatus, number>>> {
    return countByStatus(this.db, this.table, TaskLogFilter.snapshot(filter).conditions);
  }

  pendingCounts(): Promise<PendingCount[]> {
    return pendingCounts(this.db, this.table);
  }

  async countFinished(filter: TaskLogFilter, since: Date, intervalMs: number, intervals: number): Promise<FinishedCount[]> {
    return countFinished(this.db, this.table, TaskLogFilter.snapshot(filter).conditions, since.getTime(), intervalMs, intervals);
  }

  prune(olderThan: Date, statuses: readonly TaskStatus[]): Promise<number> {
    return pruneEntries(this.db, this.table, olderThan.getTime(), statuses);
  }

  // ---- worker supervision (the `_workers` table, see schema.ts) --------------------------------

  recordWorker(heartbeat: WorkerHeartbeat): Promise<void> {
    return recordWorker(this.db, workersTableOf(this.table), heartbeat);
  }

  listWorkers(): Promise<WorkerRecord[]> {
    return listWorkers(this.db, workersTableOf(this.table));
  }

  removeWorkers(olderThanMs: number): Promise<number> {
    return removeWorkers(this.db, workersTableOf(this.table), olderThanMs);
  }

  describe() {
    return { type: this.type, connection: this.client.display, table: this.table, ...(this.notify ? {} : { notify: false }) };
  }

  async close(): Promise<void> {
    await this.endNotifications?.close();
    await this.client.close();
  }
}

/** The ids an end notification names (a JSON array), or undefined for "look at every one". */
function endedIds(payload: string): string[] | undefined {
  try {
    const ids: unknown = JSON.parse(payload);
    return Array.isArray(ids) && ids.every((id) => typeof id === 'string') ? ids : undefined;
  } catch {
    return undefined;
  }
}

function toEntry(row: Row): TaskLogEntry {
  return {
    id: row.id,
    parentId: row.parent_id,
    taskName: row.task_name,
    label: row.label,
    status: row.status as TaskStatus,
    owner: row.owner,
    queue: row.queue,
    parameters: json(row.parameters),
    report: json(row.report) as ReportData | null,
    progress: json(row.progress),
    attempts: Number(row.attempts),
    stalls: Number(row.stalls ?? 0),
    workerId: row.worker_id,
    leaseUntil: date(row.lease_until),
    createdAt: date(row.created_at) as Date,
    updatedAt: date(row.updated_at) as Date,
    startedAt: date(row.started_at),
    finishedAt: date(row.finished_at),
    archivedFrom: (row.archived_from ?? null) as TaskStatus | null,
  };
}
