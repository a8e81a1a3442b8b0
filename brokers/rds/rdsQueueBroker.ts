import type { BrokerDescription, OutgoingMessage, QueueBroker, ReceiveOptions, ReceivedMessage, UniquePush, UniquePushResult } from '../../src/queueBroker';
import { DuplicateTaskIdError, TaskqError } from '../../src/errors';
import type { NewTaskLogEntry } from '../../src/taskLog/taskLogEntry';
import type { TaskLogBroker } from '../../src/taskLog/taskLogBroker';
import { RdsTaskLogBroker, isDuplicateKey } from './rdsTaskLogBroker';
import { isDeadlock } from './retryDeadlocks';
import { type RdsConnection, checkTableName } from './connection';
import { RdsClient } from './rdsClient';
import { SqlTextCache } from './sqlTextCache';
import { createMessagesTable } from './schema';
import { type ClaimedRow, claimMessages } from './sql/claimMessages';
import { claimMessagesAndEntries } from './sql/claimMessagesAndEntries';
import { removeMessages } from './sql/removeMessages';
import { CallBatcher } from '../../src/callBatcher';
import { runInCallerTransaction } from './callerTransaction';
import { PgNotifications } from './pgNotifications';
import { type SqlStatement, type SqlValue, runStatements } from './sqlExecutor';

export interface RdsQueueBrokerOptions {
  /** `sqlite:PATH` (default `sqlite:./taskq.db`), `postgres://…`, `mysql://…`. */
  connection?: string;
  /** Messages a worker receives at a time. */
  receive?: number;
  /** The messages table (shared by every queue). */
  table?: string;
  /**
   * PostgreSQL: a push NOTIFYs the workers, which LISTEN, so an idle worker starts a new task
   * at once instead of at its next poll (default true). Turn it off behind a pooler in
   * transaction mode (PgBouncer), where LISTEN cannot work. Other dialects poll.
   */
  notify?: boolean;
}

/** The notifications a push sends: the queue, and the distinct delays until visible (at most this many). */
const NOTIFY_DELAYS = 10;

/** Rows per INSERT: far below SQLite's 32,766 bound parameters (5 a row). */
const INSERT_CHUNK = 500;
/** Tries of a unique enqueue whose key's holder is taken by a worker under it, again and again. */
const UNIQUE_RETRIES = 4;

/** Ids or receipts per UPDATE or SELECT … IN (…). */
const ID_CHUNK = 200;

function toReceived(row: ClaimedRow): ReceivedMessage {
  return { id: String(row.id), taskId: row.task_id, body: row.body, receiveCount: Number(row.receive_count), receipt: `${row.id}:${row.receive_count}` };
}

const marks = (n: number) => Array.from({ length: n }, () => '?').join(', ');

/**
 * The task id a duplicate-key error names, when it can tell: the only entry, or the key value
 * PostgreSQL (`Key (id)=(…)`) and MySQL (`Duplicate entry '…'`) quote. SQLite names only the column.
 */
function duplicateIdOf(error: unknown, entries: readonly NewTaskLogEntry[]): string | undefined {
  if (entries.length === 1) return entries[0].id;
  const text = `${(error as { detail?: string }).detail ?? ''} ${(error as Error).message}`;
  const quoted = /Key \(id\)=\((.*?)\) already exists|Duplicate entry '(.*?)' for key/.exec(text);
  const id = quoted?.[1] ?? quoted?.[2];
  return id !== undefined && entries.some((e) => e.id === id) ? id : undefined;
}

/** Receipts are `id:receiveCount`: a stale delivery cannot ack, extend or release a newer one. */
function parseReceipt(receipt: string): [string, number] {
  const at = receipt.lastIndexOf(':');
  return [receipt.slice(0, at), Number(receipt.slice(at + 1))];
}

/** Queues in one SQL table: SQLite embedded by default, PostgreSQL, MySQL. */
export class RdsQueueBroker implements QueueBroker {
  readonly type = 'rds';
  readonly isSync = false;
  readonly receiveBatchSize: number;
  readonly processLocal: boolean;
  readonly table: string;
  private readonly client: RdsClient;
  private readonly insertSql = new SqlTextCache(
    (rows) => `INSERT INTO ${this.t} (queue, task_id, body, visible_at, receive_count, created_at) VALUES ${Array.from({ length: rows }, () => `(?, ?, ?, ${this.db.now} + ?, 0, ${this.db.now})`).join(', ')}`,
  );
  private readonly notify: boolean;
  private readonly deletes = new Map<string, CallBatcher<string, undefined>>();
  private notifications?: PgNotifications;

  constructor(options: RdsQueueBrokerOptions = {}) {
    this.client = new RdsClient(options.connection);
    this.receiveBatchSize = options.receive ?? 5;
    this.processLocal = this.client.connectionString === 'sqlite::memory:';
    this.table = checkTableName('table', options.table ?? 'taskq_messages');
    this.notify = options.notify ?? true;
  }

  /** NOTIFY on push and LISTEN in workers: PostgreSQL only, unless turned off. */
  private get notifies(): boolean {
    return this.notify && this.db.dialect === 'postgres';
  }

  get connectionString(): string {
    return this.client.connectionString;
  }

  private get db(): RdsConnection {
    return this.client.db;
  }

  private get t(): string {
    return this.db.quote(this.table);
  }

  async createContainer(_queue: string): Promise<void> {
    await createMessagesTable(this.db, this.table);
  }

  async dropContainer(queue: string): Promise<void> {
    await createMessagesTable(this.db, this.table);
    await this.purge(queue);
  }

  async push(queue: string, message: OutgoingMessage): Promise<void> {
    await this.pushMany(queue, [message]);
  }

  async pushMany(queue: string, messages: readonly OutgoingMessage[]): Promise<void> {
    await runStatements(this.db.exec, this.insertStatements(queue, messages));
  }

  /**
   * Where the task log lives in the same database, its entries and the messages are written in
   * one transaction: a crash can leave neither half alone.
   */
  async pushWithLogEntries(queue: string, messages: readonly OutgoingMessage[], taskLog: TaskLogBroker, entries: readonly NewTaskLogEntry[]): Promise<boolean> {
    if (!(taskLog instanceof RdsTaskLogBroker) || taskLog.database.exec !== this.db.exec) return false;
    const logInserts = taskLog.insertStatements(entries);
    const messageInserts = this.insertStatements(queue, messages);
    try {
      if (this.db.dialect === 'postgres' && logInserts.length === 1 && messageInserts.length === 1) {
        // One statement is atomic on its own: one round trip instead of BEGIN, two INSERTs, COMMIT.
        const [log, message] = [logInserts[0], messageInserts[0]];
        const rest = message.sql.startsWith('WITH ') ? `, ${message.sql.slice('WITH '.length)}` : ` ${message.sql}`;
        await this.db.exec.run(`WITH log_entries AS (${log.sql})${rest}`, [...log.bindings, ...message.bindings]);
        return true;
      }
      await this.db.exec.batch([...logInserts, ...messageInserts]);
    } catch (error) {
      // A task id given twice: nothing was written (one transaction), and the error says which.
      throw await taskLog.explainInsertError(error, entries.map((e) => e.id));
    }
    return true;
  }

  /**
   * A unique task's enqueue in one transaction with its log entry (see QueueBroker.pushUnique):
   * the entry's INSERT fails on a key a pending entry holds (the unique index decides a race
   * between processes), and then nothing is written and the holder is looked up. A replace is a
   * compare-and-set on the holder's revision, and a new message of the next revision beside it,
   * written only if that CAS applied; the older message stays, and the worker that gets it skips
   * it as stale (deleting it would scan the queue: messages are not indexed by task).
   */
  async pushUnique(queue: string, push: UniquePush, taskLog: TaskLogBroker): Promise<UniquePushResult | undefined> {
    if (!(taskLog instanceof RdsTaskLogBroker) || taskLog.database.exec !== this.db.exec) return undefined;
    const { entry, uniqueKey } = push;
    for (let attempt = 0; attempt <= UNIQUE_RETRIES; attempt++) {
      const pending = push.replace ? await taskLog.pendingUnique(uniqueKey) : undefined;
      if (pending) {
        const parameters = JSON.stringify(entry.parameters ?? null);
        const revision = pending.revision + 1;
        const now = this.db.now;
        const logTable = this.db.quote(taskLog.table);
        const statements: SqlStatement[] = [
          taskLog.replaceStatement(pending.id, pending.revision, uniqueKey, parameters),
          {
            // Only if this replace's CAS applied: the entry at the new revision with these params.
            sql: `INSERT INTO ${this.t} (queue, task_id, body, visible_at, receive_count, created_at)
              SELECT ?, ?, ?, ${now} + ?, 0, ${now} FROM ${logTable} WHERE id = ? AND unique_revision = ? AND parameters = ?`,
            bindings: [queue, pending.id, push.body(pending.id, revision), this.delayOf(push.runAt), pending.id, revision, parameters],
          },
        ];
        if (this.notifies) statements.push({ sql: 'SELECT pg_notify(?, ?)', bindings: [this.table, `${this.delayOf(push.runAt)}:${queue}`] });
        const [replaced] = await this.db.exec.batch(statements);
        if (replaced === 1) return { outcome: 'replaced', id: pending.id, revision };
        // Lost to a concurrent replace (not to a worker, which leaves the revision): ordered just before it, overwritten.
        const current = await taskLog.revisionOf(pending.id);
        if (current !== undefined && current > pending.revision) return { outcome: 'replaced', id: pending.id, revision: current };
        continue;
      }
      const message: OutgoingMessage = { taskId: entry.id, body: push.body(entry.id, 0), runAt: push.runAt, groupId: push.groupId };
      try {
        await this.db.exec.batch([taskLog.uniqueInsertStatement(entry, uniqueKey), ...this.insertStatements(queue, [message])]);
        return { outcome: 'added' };
      } catch (error) {
        // Concurrent inserts of one key can deadlock on MySQL when the first one rolls back: try again.
        if (isDeadlock(error)) continue;
        if (!isDuplicateKey(error)) throw error;
      }
      // Nothing was written: the key is held (or the id taken, which throws).
      const holder = await taskLog.uniqueConflict(entry.id, uniqueKey);
      if (holder !== undefined && !push.replace) return { outcome: 'existing', id: holder };
    }
    throw new TaskqError(`Unique key ${JSON.stringify(uniqueKey)}: its pending task kept changing under ${UNIQUE_RETRIES + 1} tries; try again`);
  }

  /** A run-at time as a delay from now, for the database's clock. */
  private delayOf(runAt: number | undefined): number {
    return runAt === undefined ? 0 : Math.max(0, runAt - Date.now());
  }

  /**
   * The caller's transaction (see EnqueueOptions.transaction): the messages, and the log entries
   * when the task log is on this database, written in it; visible, and notified, when it commits.
   */
  async pushInTransaction(queue: string, messages: readonly OutgoingMessage[], transaction: unknown, taskLog: TaskLogBroker, entries: readonly NewTaskLogEntry[]): Promise<boolean> {
    const run = runInCallerTransaction(transaction, this.db.dialect, queue);
    const logged = taskLog instanceof RdsTaskLogBroker && taskLog.database.exec === this.db.exec;
    try {
      for (const statement of [...(logged ? taskLog.insertStatements(entries) : []), ...this.insertStatements(queue, messages)]) await run(statement.sql, statement.bindings);
    } catch (error) {
      // The caller's transaction may be aborted (PostgreSQL): the taken id is read from the error, not looked up.
      const taken = logged && isDuplicateKey(error) ? duplicateIdOf(error, entries) : undefined;
      throw taken === undefined ? error : new DuplicateTaskIdError([taken]);
    }
    return logged;
  }

  /**
   * A message's run-at time becomes a delay from the database's now: visibility is always on the
   * database's clock. (The delay is measured on this host's clock, which is what the caller meant.)
   */
  private insertStatements(queue: string, messages: readonly OutgoingMessage[]): SqlStatement[] {
    const statements: SqlStatement[] = [];
    const now = Date.now();
    const delayOf = (m: OutgoingMessage) => (m.runAt === undefined ? 0 : Math.max(0, m.runAt - now));
    if (this.db.dialect === 'postgres') {
      // One statement, the columns as arrays (see RdsTaskLogBroker.insertStatements), and the
      // NOTIFYs in it.
      const insert = `INSERT INTO ${this.t} (queue, task_id, body, visible_at, receive_count, created_at) SELECT ?, task_id, body, ${this.db.now} + delay, 0, ${this.db.now}
        FROM unnest(?::text[], ?::text[], ?::bigint[]) WITH ORDINALITY AS m(task_id, body, delay, n) ORDER BY n`;
      const bindings: SqlValue[] = [queue, messages.map((m) => m.taskId), messages.map((m) => m.body), messages.map(delayOf)];
      if (!this.notifies) return [{ sql: insert, bindings }];
      // Payload `delayMs:queue`: the queue, and the distinct delays until visible.
      const delays = [...new Set(messages.map(delayOf))].sort((a, b) => a - b).slice(0, NOTIFY_DELAYS);
      return [{ sql: `WITH inserted AS (${insert}) SELECT pg_notify(?, note) FROM unnest(?::text[]) AS notes(note)`, bindings: [...bindings, this.table, delays.map((d) => `${d}:${queue}`)] }];
    }
    for (let i = 0; i < messages.length; i += INSERT_CHUNK) {
      const chunk = messages.slice(i, i + INSERT_CHUNK);
      statements.push({ sql: this.insertSql.get(chunk.length), bindings: chunk.flatMap((m) => [queue, m.taskId, m.body, delayOf(m)]) });
    }
    return statements;
  }

  async listen(queue: string, onPushed: (delayMs: number) => void, onError: (message: string) => void = () => undefined): Promise<() => Promise<void>> {
    if (!this.notifies) return async () => undefined;
    if (!this.notifications || this.notifications.isClosed) this.notifications = new PgNotifications(this.client.connectionString, this.table);
    return this.notifications.subscribe({
      onNotification(payload) {
        if (payload === '') return onPushed(0);
        const at = payload.indexOf(':');
        if (payload.slice(at + 1) === queue) onPushed(Number(payload.slice(0, at)));
      },
      onError,
    });
  }

  /**
   * With `options.claimFor` on PostgreSQL, when the task log is on this database: the tasks'
   * claims in the same statement (claimMessagesAndEntries). Other dialects have no
   * data-modifying WITH: the worker claims them in a statement of their own.
   */
  async receive(queue: string, max: number, leaseMs: number, options: ReceiveOptions = {}): Promise<ReceivedMessage[]> {
    if (max <= 0) return [];
    const log = options.claimFor?.taskLog;
    if (options.claimFor && this.db.dialect === 'postgres' && log instanceof RdsTaskLogBroker && log.database.exec === this.db.exec) {
      const { workerId, leaseMs: taskLeaseMs } = options.claimFor;
      const received = await claimMessagesAndEntries(this.db, this.table, log.table, queue, max, leaseMs, workerId, taskLeaseMs);
      return received.map(({ row, claim }) => ({ ...toReceived(row), claim }));
    }
    return (await claimMessages(this.db, this.table, queue, max, leaseMs)).map(toReceived);
  }

  async receiveDelayed(queue: string, max: number): Promise<ReceivedMessage[]> {
    const rows = await this.db.exec.all<ClaimedRow & { visible_at: number | string }>(
      `SELECT id, task_id, body, receive_count, visible_at FROM ${this.t} WHERE queue = ? AND reserved_until IS NULL AND visible_at > ${this.db.now} ORDER BY visible_at, id LIMIT ?`,
      [queue, max],
    );
    return rows.map((row) => ({ ...toReceived(row), runAt: Number(row.visible_at) }));
  }

  /** Acknowledgements made in one turn (tasks that end together) are one DELETE per queue. */
  async acknowledge(queue: string, message: ReceivedMessage): Promise<void> {
    let batcher = this.deletes.get(queue);
    if (!batcher) {
      batcher = new CallBatcher((receipts) => this.deleteMessages(queue, receipts), ID_CHUNK);
      this.deletes.set(queue, batcher);
    }
    await batcher.add(message.receipt);
  }

  private async deleteMessages(queue: string, receipts: string[]): Promise<undefined[]> {
    const pairs = receipts.map(parseReceipt);
    // The receive count too: a stale delivery's acknowledgement leaves a newer one's message be.
    await this.db.exec.run(`DELETE FROM ${this.t} WHERE ${this.byReceipts(pairs.length)} AND ${this.db.unindexed('queue')} = ?`, [...this.receiptBindings(pairs), queue]);
    return receipts.map(() => undefined);
  }

  async extendLease(queue: string, messages: readonly ReceivedMessage[], leaseMs: number): Promise<void> {
    for (let i = 0; i < messages.length; i += ID_CHUNK) {
      const receipts = messages.slice(i, i + ID_CHUNK).map((m) => parseReceipt(m.receipt));
      // Only messages still leased: one released meanwhile (with its retry backoff) stays released.
      await this.db.exec.run(
        `UPDATE ${this.t} SET visible_at = ${this.db.now} + ?, reserved_until = ${this.db.now} + ? WHERE ${this.byReceipts(receipts.length)} AND ${this.db.unindexed('queue')} = ? AND reserved_until IS NOT NULL`,
        [leaseMs, leaseMs, ...this.receiptBindings(receipts), queue],
      );
    }
  }

  /**
   * Messages by receipt (id and receive count), as an IN list of ids and the pairs; the queue
   * beside them is compared unindexed (SQLite walked the claim index through the whole queue
   * on `queue = ?`: 10x slower at 20k queued).
   */
  private byReceipts(count: number): string {
    return `id IN (${marks(count)}) AND (${Array.from({ length: count }, () => '(id = ? AND receive_count = ?)').join(' OR ')})`;
  }

  private receiptBindings(receipts: readonly [string, number][]): SqlValue[] {
    return [...receipts.map(([id]) => id), ...receipts.flat()];
  }

  async release(queue: string, message: ReceivedMessage, delayMs: number): Promise<void> {
    const [id, count] = parseReceipt(message.receipt);
    await this.db.exec.run(`UPDATE ${this.t} SET visible_at = ${this.db.now} + ?, reserved_until = NULL WHERE id = ? AND queue = ? AND receive_count = ?`, [Math.max(0, delayMs), id, queue, count]);
  }

  async count(queue: string): Promise<number> {
    const [row] = await this.db.exec.all<{ n: number | string }>(`SELECT COUNT(*) AS n FROM ${this.t} WHERE queue = ?`, [queue]);
    return Number(row?.n ?? 0);
  }

  /** A leased message has a lease end (`reserved_until`) still ahead; `release` clears it. */
  async countLeased(queue: string): Promise<number> {
    const [row] = await this.db.exec.all<{ n: number | string }>(`SELECT COUNT(*) AS n FROM ${this.t} WHERE queue = ? AND reserved_until IS NOT NULL AND reserved_until > ${this.db.now}`, [queue]);
    return Number(row?.n ?? 0);
  }

  async holdsTasks(queue: string, taskIds: readonly string[]): Promise<Set<string>> {
    const found = new Set<string>();
    for (let i = 0; i < taskIds.length; i += ID_CHUNK) {
      const chunk = taskIds.slice(i, i + ID_CHUNK);
      const rows = await this.db.exec.all<{ task_id: string }>(`SELECT DISTINCT task_id FROM ${this.t} WHERE queue = ? AND task_id IN (${chunk.map(() => '?').join(', ')})`, [queue, ...chunk]);
      for (const row of rows) found.add(row.task_id);
    }
    return found;
  }

  async purge(queue: string): Promise<number> {
    return this.db.exec.run(`DELETE FROM ${this.t} WHERE queue = ?`, [queue]);
  }

  removeTasks(queue: string, taskIds: readonly string[]): Promise<number> {
    return removeMessages(this.db, this.table, queue, taskIds);
  }

  describe(): BrokerDescription {
    return { type: this.type, connection: this.client.display, receive: this.receiveBatchSize, table: this.table, ...(this.notify ? {} : { notify: false }) };
  }

  async close(): Promise<void> {
    await this.notifications?.close();
    await this.client.close();
  }
}

