import type { Knex } from 'knex';
import { ConfigError } from '../../src/errors';
import type { Dialect } from './connection';
import type { SqlValue } from './sqlExecutor';

/** Runs one of taskq's statements (`?` placeholders) in the caller's transaction. */
export type RunInTransaction = (sql: string, bindings: readonly SqlValue[]) => Promise<void>;

/** knex's client names, by dialect. */
const KNEX_CLIENTS: Record<Dialect, readonly string[]> = {
  sqlite: ['better-sqlite3', 'sqlite3'],
  postgres: ['pg', 'postgres', 'postgresql', 'pg-native'],
  mysql: ['mysql2', 'mysql'],
};

function isKnexTransaction(value: unknown): value is Knex.Transaction {
  return typeof value === 'function' && typeof (value as { raw?: unknown }).raw === 'function' && (value as { isTransaction?: unknown }).isTransaction === true;
}

function hasQuery(value: unknown): value is { query(text: string, values?: unknown[]): Promise<unknown> } {
  return typeof value === 'object' && value !== null && typeof (value as { query?: unknown }).query === 'function';
}

/** `?` to `$1`, `$2`…: taskq's statements have no `?` but their placeholders. */
function numbered(sql: string): string {
  let n = 0;
  return sql.replace(/\?/g, () => `$${++n}`);
}

/**
 * What the caller passed as `transaction`, as a way to run statements in it: a knex transaction
 * of this broker's dialect, or (PostgreSQL) a `pg` client the caller has sent BEGIN on. Anything
 * else is one clear error, before anything is written.
 */
export function runInCallerTransaction(transaction: unknown, dialect: Dialect, queue: string): RunInTransaction {
  if (isKnexTransaction(transaction)) {
    const client = String((transaction as unknown as { client?: { config?: { client?: unknown } } }).client?.config?.client ?? '');
    if (client && !KNEX_CLIENTS[dialect].includes(client)) {
      throw new ConfigError(`enqueue option transaction is a knex transaction on ${client}, but queue "${queue}" is on ${dialect}: pass a transaction on the queue's database`);
    }
    return async (sql, bindings) => void (await transaction.raw(sql, bindings as Knex.RawBinding[]));
  }
  if (hasQuery(transaction)) {
    if (dialect !== 'postgres') throw new ConfigError(`enqueue option transaction: a client with query() is taken for PostgreSQL (pg) only; queue "${queue}" is on ${dialect}: pass a knex transaction`);
    return async (sql, bindings) => void (await transaction.query(numbered(sql), [...bindings]));
  }
  throw new ConfigError(`enqueue option transaction must be a knex transaction or a pg client inside BEGIN`);
}
