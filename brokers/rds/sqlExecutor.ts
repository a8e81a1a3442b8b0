import { TaskqError } from '../../src/errors';
import { statSync } from 'node:fs';
import type BetterSqlite3 from 'better-sqlite3';
import type { Knex } from 'knex';
import type { Dialect } from './connection';
import { retryDeadlocks } from './retryDeadlocks';

/** Arrays only for PostgreSQL (its driver sends them as arrays: bulk inserts unnest them). */
export type SqlValue = string | number | bigint | null | readonly (string | number | null)[];

export interface SqlStatement {
  sql: string;
  bindings: readonly SqlValue[];
}

/**
 * Runs SQL text with `?` placeholders on one database. The brokers build their SQL once (static
 * strings, or knex's builder through toSQL()) and run it here, so SQLite can take the fast path:
 * cached prepared statements on the better-sqlite3 handle, with no pool and no per-query
 * compilation (knex's own query path costs about three times the statement itself).
 */
export interface SqlExecutor {
  readonly dialect: Dialect;
  /** The rows of a SELECT, or of an UPDATE/DELETE … RETURNING. */
  all<T>(sql: string, bindings?: readonly SqlValue[]): Promise<T[]>;
  /** How many rows the statement changed. */
  run(sql: string, bindings?: readonly SqlValue[]): Promise<number>;
  /** The statements in one transaction; the rows each changed. */
  batch(statements: readonly SqlStatement[]): Promise<number[]>;
  /**
   * Runs `work` in one transaction on one connection, holding the database-wide lock `lock`
   * (across processes: PostgreSQL's advisory lock, MySQL's GET_LOCK, SQLite's write lock), so
   * that of several processes doing the same work (a schema migration) one at a time does it.
   * Committed if `work` resolves, rolled back where the database can (not MySQL's DDL) if not.
   */
  exclusive<T>(lock: string, work: (session: SqlSession) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

/** Statements inside `exclusive`. */
export interface SqlSession {
  all<T>(sql: string, bindings?: readonly SqlValue[]): Promise<T[]>;
  run(sql: string, bindings?: readonly SqlValue[]): Promise<number>;
}

/** How long MySQL waits for another process's lock before giving up. */
const MYSQL_LOCK_WAIT_S = 120;

const STATEMENT_CACHE = 500;

/** A statement waiting for the group commit, and how to tell its caller the outcome. */
interface Queued {
  step(): unknown;
  resolve(value: unknown): void;
  reject(error: unknown): void;
}

/**
 * better-sqlite3 is synchronous: each call runs to its end, so statements never interleave.
 *
 * Group commit: a write is not run at once but queued, and the statements queued in one turn of
 * the event loop run together, in order, in one transaction at the end of the turn: a worker that
 * claims the ten tasks it received, or records ten results that end together, pays one commit
 * instead of ten. The write lock is held only while they run, never across application code; a
 * lone statement runs as it is. Nothing is reported done before it is committed, and a failed
 * statement fails alone (SQLite undoes just that statement), unless it ended the transaction:
 * then every statement of the group fails with it. A read runs at once, unless writes are queued
 * (then after them, so it sees them).
 */
export class SqliteExecutor implements SqlExecutor {
  readonly dialect = 'sqlite' as const;
  private readonly statements = new Map<string, BetterSqlite3.Statement>();
  /** The statements waiting for the group commit, if any. */
  private queued?: Queued[];
  /** The last exclusive() call of this process: the next waits for it. */
  private exclusiveTail: Promise<void> = Promise.resolve();

  /**
   * Made once: better-sqlite3 builds a transaction wrapper per call to transaction(), a fifth of a
   * small batch's time. Inside a group commit it is a savepoint.
   */
  private readonly inTransaction: BetterSqlite3.Transaction<(statements: readonly SqlStatement[]) => number[]>;
  /** The group commit's transaction: the queued statements, each outcome kept apart. */
  private readonly inGroup: BetterSqlite3.Transaction<(queued: readonly Queued[], outcomes: { value?: unknown; error?: unknown }[]) => void>;

  private readonly file?: { path: string; ino: number; dev: number };
  private checkedAt = 0;

  /** `path`: the database file, watched so that its deletion or replacement is noticed. */
  constructor(
    private readonly db: BetterSqlite3.Database,
    path?: string,
  ) {
    this.inTransaction = db.transaction((statements: readonly SqlStatement[]) => statements.map((s) => this.prepare(s.sql).run(...s.bindings).changes));
    this.inGroup = db.transaction((queued: readonly Queued[], outcomes: { value?: unknown; error?: unknown }[]) => {
      for (const q of queued) {
        try {
          outcomes.push({ value: q.step() });
        } catch (error) {
          // Most errors undo the statement alone; one that ended the transaction fails them all.
          if (!db.inTransaction) throw error;
          outcomes.push({ error });
        }
      }
    });
    if (path) {
      const { ino, dev } = statSync(path);
      this.file = { path, ino, dev };
    }
  }

  /**
   * A SQLite file deleted (or replaced) under an open handle keeps working on the deleted inode:
   * a worker would poll it forever while new tasks go to the new file. Checked at most once a
   * second, and every statement fails loudly from then on.
   */
  private checkFile(): void {
    if (!this.file) return;
    const now = Date.now();
    if (now - this.checkedAt < 1_000) return;
    this.checkedAt = now;
    let current: { ino: number; dev: number } | undefined;
    try {
      current = statSync(this.file.path);
    } catch {
      current = undefined;
    }
    if (!current || current.ino !== this.file.ino || current.dev !== this.file.dev) {
      this.checkedAt = 0;
      throw new TaskqError(`The SQLite database file ${this.file.path} was ${current ? 'replaced' : 'deleted'} while this process had it open: restart the process to use ${current ? 'the new file' : 'a new one'}`);
    }
  }

  private prepare(sql: string): BetterSqlite3.Statement {
    this.checkFile();
    let statement = this.statements.get(sql);
    if (!statement) {
      if (this.statements.size >= STATEMENT_CACHE) this.statements.clear();
      statement = this.db.prepare(sql);
      this.statements.set(sql, statement);
    }
    return statement;
  }

  all<T>(sql: string, bindings: readonly SqlValue[] = []): Promise<T[]> {
    return this.execute(sql, (statement) => statement.all(...bindings) as T[]);
  }

  run(sql: string, bindings: readonly SqlValue[] = []): Promise<number> {
    return this.execute(sql, (statement) => statement.run(...bindings).changes);
  }

  /** All of them or none: in a group commit, a nested transaction (a savepoint). */
  batch(statements: readonly SqlStatement[]): Promise<number[]> {
    return this.queue(() => (this.db.inTransaction ? this.inTransaction(statements) : this.inTransaction.immediate(statements)));
  }

  private execute<T>(sql: string, step: (statement: BetterSqlite3.Statement) => T): Promise<T> {
    let statement: BetterSqlite3.Statement;
    try {
      statement = this.prepare(sql);
      if (statement.readonly && !this.queued) return Promise.resolve(step(statement));
    } catch (error) {
      return Promise.reject(explained(error));
    }
    return this.queue(() => step(statement));
  }

  private queue<T>(step: () => T): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      if (!this.queued) {
        this.queued = [];
        // After the turn's other statements: process.nextTick runs once the current job's
        // microtasks are done, before any I/O.
        process.nextTick(() => this.flush());
      }
      this.queued.push({ step, resolve: resolve as (value: unknown) => void, reject });
    });
  }

  /** Runs the queued statements, alone or in one transaction, then settles them. */
  private flush(): void {
    const queued = this.queued;
    this.queued = undefined;
    if (!queued) return;
    if (queued.length === 1) {
      const [only] = queued;
      try {
        only.resolve(only.step());
      } catch (error) {
        only.reject(explained(error));
      }
      return;
    }
    const outcomes: { value?: unknown; error?: unknown }[] = [];
    try {
      this.inGroup.immediate(queued, outcomes);
    } catch (error) {
      const failure = explained(error);
      for (const q of queued) q.reject(failure);
      return;
    }
    queued.forEach((q, i) => ('error' in outcomes[i] ? q.reject(explained(outcomes[i].error)) : q.resolve(outcomes[i].value)));
  }

  /**
   * BEGIN IMMEDIATE takes the write lock (other processes wait, busy_timeout). The session runs
   * statements on the handle at once; writes other code queues meanwhile join the transaction.
   */
  exclusive<T>(lock: string, work: (session: SqlSession) => Promise<T>): Promise<T> {
    // One at a time in this process: the handle has one transaction, and a second BEGIN while
    // the first work awaits would fail (other processes wait on SQLite's own write lock).
    const turn = this.exclusiveTail.then(() => this.runExclusive(lock, work));
    this.exclusiveTail = turn.then(
      () => undefined,
      () => undefined,
    );
    return turn;
  }

  private async runExclusive<T>(_lock: string, work: (session: SqlSession) => Promise<T>): Promise<T> {
    this.flush();
    const direct = <R>(sql: string, step: (statement: BetterSqlite3.Statement) => R): Promise<R> => {
      try {
        return Promise.resolve(step(this.prepare(sql)));
      } catch (error) {
        return Promise.reject(explained(error));
      }
    };
    const session: SqlSession = {
      all: <R>(sql: string, bindings: readonly SqlValue[] = []) => direct(sql, (st) => st.all(...bindings) as R[]),
      run: (sql, bindings = []) => direct(sql, (st) => st.run(...bindings).changes),
    };
    this.db.prepare('BEGIN IMMEDIATE').run();
    try {
      const result = await work(session);
      this.flush();
      this.db.prepare('COMMIT').run();
      return result;
    } catch (error) {
      if (this.db.inTransaction) this.db.prepare('ROLLBACK').run();
      throw error;
    }
  }

  async close(): Promise<void> {
    this.flush();
    this.statements.clear();
    this.db.close();
  }
}

/** PostgreSQL and MySQL: the same SQL through knex's pool. */
export class KnexExecutor implements SqlExecutor {
  constructor(
    readonly dialect: 'postgres' | 'mysql',
    private readonly knex: Knex,
  ) {}

  // all, run and batch are each a whole transaction (one statement on its own, or BEGIN to
  // COMMIT), so a deadlock's victim is tried again here: the database rolled all of it back.

  async all<T>(sql: string, bindings: readonly SqlValue[] = []): Promise<T[]> {
    try {
      return rowsOf<T>(this.dialect, await retryDeadlocks(() => this.knex.raw(sql, bindings as Knex.RawBinding[])));
    } catch (error) {
      throw explained(this.withoutStatement(error, sql));
    }
  }

  async run(sql: string, bindings: readonly SqlValue[] = []): Promise<number> {
    try {
      return changesOf(this.dialect, await retryDeadlocks(() => this.knex.raw(sql, bindings as Knex.RawBinding[])));
    } catch (error) {
      throw explained(this.withoutStatement(error, sql));
    }
  }

  async batch(statements: readonly SqlStatement[]): Promise<number[]> {
    try {
      return await retryDeadlocks(() =>
        this.knex.transaction(async (trx) => {
          const changes: number[] = [];
          for (const s of statements) changes.push(changesOf(this.dialect, await trx.raw(s.sql, s.bindings as Knex.RawBinding[])));
          return changes;
        }),
      );
    } catch (error) {
      throw explained(statements.reduce((e, s) => this.withoutStatement(e, s.sql), error));
    }
  }

  /**
   * The database's own message, without the statement knex puts in front of it (`<sql> - <message>`):
   * a log line says what failed, not fifteen lines of SQL (see compileSqlOnError in connection.ts).
   */
  private withoutStatement(error: unknown, sql: string): unknown {
    if (!(error instanceof Error)) return error;
    const client = this.knex.client as { positionBindings?(sql: string): string };
    const sent = client.positionBindings?.(sql) ?? sql;
    if (error.message.startsWith(`${sent} - `)) error.message = error.message.slice(sent.length + 3);
    return error;
  }

  async exclusive<T>(lock: string, work: (session: SqlSession) => Promise<T>): Promise<T> {
    try {
      if (this.dialect === 'postgres') {
        return await this.knex.transaction(async (trx) => {
          // Released by the transaction's end, whatever happens.
          await trx.raw('SELECT pg_advisory_xact_lock(hashtext(?))', [lock]);
          return work(this.sessionOf(trx));
        });
      }
      return await this.mysqlExclusive(lock, work);
    } catch (error) {
      throw explained(error);
    }
  }

  /**
   * MySQL's named lock belongs to the connection, not to the transaction: it is taken before the
   * transaction begins and given back only after it has committed. Given back before the commit,
   * the next process's reads would not yet see this one's writes (a limited claim counted the
   * running tasks without the one just claimed, and overran the limit).
   */
  private async mysqlExclusive<T>(lock: string, work: (session: SqlSession) => Promise<T>): Promise<T> {
    const client = this.knex.client as { acquireConnection(): Promise<unknown>; releaseConnection(connection: unknown): Promise<unknown> };
    const connection = await client.acquireConnection();
    try {
      const [got] = rowsOf<{ got: number | null }>(this.dialect, await this.knex.raw('SELECT GET_LOCK(?, ?) AS got', [lock, MYSQL_LOCK_WAIT_S]).connection(connection));
      if (Number(got?.got) !== 1) throw new TaskqError(`Another process held the lock ${lock} for ${MYSQL_LOCK_WAIT_S} s: try again`);
      try {
        return await this.knex.transaction((trx) => work(this.sessionOf(trx)), { connection });
      } finally {
        await this.knex.raw('SELECT RELEASE_LOCK(?)', [lock]).connection(connection);
      }
    } finally {
      await client.releaseConnection(connection);
    }
  }

  private sessionOf(trx: Knex.Transaction): SqlSession {
    return {
      all: async <R>(sql: string, bindings: readonly SqlValue[] = []) => rowsOf<R>(this.dialect, await trx.raw(sql, bindings as Knex.RawBinding[])),
      run: async (sql, bindings = []) => changesOf(this.dialect, await trx.raw(sql, bindings as Knex.RawBinding[])),
    };
  }

  async close(): Promise<void> {
    await this.knex.destroy();
  }
}

/** Runs statements in one transaction, or a lone one as it is (no transaction to pay for). */
export async function runStatements(exec: SqlExecutor, statements: readonly SqlStatement[]): Promise<void> {
  if (statements.length === 1) await exec.run(statements[0].sql, statements[0].bindings);
  else if (statements.length > 1) await exec.batch(statements);
}

/** SQLite, PostgreSQL and MySQL's ways of saying a table does not exist. */
const MISSING_TABLE = /no such table: (\S+)|relation "([^"]+)" does not exist|Table '([^']+)' doesn't exist/;

/**
 * A missing table means the containers were never created (or were dropped): say what to run,
 * rather than pass on the database's words alone. Other errors go through as they are.
 */
function explained(error: unknown): unknown {
  const match = error instanceof Error || (typeof error === 'object' && error !== null) ? MISSING_TABLE.exec(String((error as Error).message)) : null;
  if (!match) return error;
  const table = match[1] ?? match[2] ?? match[3];
  return new TaskqError(`taskq's table ${table} does not exist in this database: run \`taskq initialize-queue\` (or await dispatcher.initialize()) first (${(error as Error).message})`);
}

function rowsOf<T>(dialect: 'postgres' | 'mysql', result: unknown): T[] {
  if (dialect === 'postgres') return (result as { rows: T[] }).rows;
  return (result as [T[]])[0];
}

function changesOf(dialect: 'postgres' | 'mysql', result: unknown): number {
  if (dialect === 'postgres') return (result as { rowCount: number | null }).rowCount ?? 0;
  return (result as [{ affectedRows: number }])[0].affectedRows;
}
