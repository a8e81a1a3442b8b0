import type BetterSqlite3 from 'better-sqlite3';
import type { Knex } from 'knex';
import type { Dialect } from './connection';

export type SqlValue = string | number | bigint | null;

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
  close(): Promise<void>;
}

const STATEMENT_CACHE = 500;

/** better-sqlite3 is synchronous: each call runs to its end, so statements never interleave. */
export class SqliteExecutor implements SqlExecutor {
  readonly dialect = 'sqlite' as const;
  private readonly statements = new Map<string, BetterSqlite3.Statement>();

  /** Made once: better-sqlite3 builds a transaction wrapper per call to transaction(), a fifth of a small batch's time. */
  private readonly inTransaction: BetterSqlite3.Transaction<(statements: readonly SqlStatement[]) => number[]>;

  constructor(private readonly db: BetterSqlite3.Database) {
    this.inTransaction = db.transaction((statements: readonly SqlStatement[]) => statements.map((s) => this.prepare(s.sql).run(...s.bindings).changes));
  }

  private prepare(sql: string): BetterSqlite3.Statement {
    let statement = this.statements.get(sql);
    if (!statement) {
      if (this.statements.size >= STATEMENT_CACHE) this.statements.clear();
      statement = this.db.prepare(sql);
      this.statements.set(sql, statement);
    }
    return statement;
  }

  async all<T>(sql: string, bindings: readonly SqlValue[] = []): Promise<T[]> {
    return this.prepare(sql).all(...bindings) as T[];
  }

  async run(sql: string, bindings: readonly SqlValue[] = []): Promise<number> {
    return this.prepare(sql).run(...bindings).changes;
  }

  async batch(statements: readonly SqlStatement[]): Promise<number[]> {
    return this.inTransaction.immediate(statements);
  }

  async close(): Promise<void> {
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

  async all<T>(sql: string, bindings: readonly SqlValue[] = []): Promise<T[]> {
    return rowsOf<T>(this.dialect, await this.knex.raw(sql, bindings as Knex.RawBinding[]));
  }

  async run(sql: string, bindings: readonly SqlValue[] = []): Promise<number> {
    return changesOf(this.dialect, await this.knex.raw(sql, bindings as Knex.RawBinding[]));
  }

  async batch(statements: readonly SqlStatement[]): Promise<number[]> {
    return this.knex.transaction(async (trx) => {
      const changes: number[] = [];
      for (const s of statements) changes.push(changesOf(this.dialect, await trx.raw(s.sql, s.bindings as Knex.RawBinding[])));
      return changes;
    });
  }

  async close(): Promise<void> {
    await this.knex.destroy();
  }
}

function rowsOf<T>(dialect: 'postgres' | 'mysql', result: unknown): T[] {
  if (dialect === 'postgres') return (result as { rows: T[] }).rows;
  return (result as [T[]])[0];
}

function changesOf(dialect: 'postgres' | 'mysql', result: unknown): number {
  if (dialect === 'postgres') return (result as { rowCount: number | null }).rowCount ?? 0;
  return (result as [{ affectedRows: number }])[0].affectedRows;
}
