import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import knex, { type Knex } from 'knex';
import { ConfigError } from '../../src/errors';

export type Dialect = 'sqlite' | 'postgres' | 'mysql';

export interface ParsedConnection {
  dialect: Dialect;
  /** The connection string with any password masked: safe to log and to persist in descriptions. */
  display: string;
  config: Knex.Config;
}

/** `sqlite:PATH`, `sqlite::memory:`, `postgres://…`, `mysql://…`. */
export function parseConnection(connection: string): ParsedConnection {
  if (typeof connection !== 'string' || connection === '') throw new ConfigError('RDS connection must be a non-empty string such as "sqlite:./taskq.db"');
  if (connection.startsWith('sqlite:')) {
    const path = connection.slice('sqlite:'.length);
    if (path === '') throw new ConfigError(`RDS connection "${connection}": sqlite needs a file path (sqlite:./taskq.db) or sqlite::memory:`);
    const filename = path === ':memory:' ? ':memory:' : resolve(path);
    return {
      dialect: 'sqlite',
      display: connection,
      config: {
        client: 'better-sqlite3',
        connection: { filename },
        useNullAsDefault: true,
        pool: {
          min: 1,
          max: 1,
          afterCreate(conn: { pragma(sql: string): unknown }, done: (err: Error | null, conn: unknown) => void) {
            // WAL lets readers run beside the writer; busy_timeout makes other processes wait for
            // the write lock instead of failing at once.
            conn.pragma('journal_mode = WAL');
            conn.pragma('synchronous = NORMAL');
            conn.pragma('busy_timeout = 10000');
            done(null, conn);
          },
        },
      },
    };
  }
  const match = /^(postgres|postgresql|mysql|mariadb):\/\//.exec(connection);
  if (!match) throw new ConfigError(`RDS connection "${mask(connection)}" is not one of sqlite:PATH, postgres://…, mysql://…`);
  const dialect: Dialect = match[1].startsWith('postgres') ? 'postgres' : 'mysql';
  return {
    dialect,
    display: mask(connection),
    config: { client: dialect === 'postgres' ? 'pg' : 'mysql2', connection: dialect === 'postgres' ? connection : connection.replace(/^mariadb:/, 'mysql:'), pool: { min: 0, max: 10 } },
  };
}

function mask(connection: string): string {
  return connection.replace(/\/\/([^:/@]+):([^@]*)@/, '//$1:***@');
}

export interface RdsConnection {
  readonly knex: Knex;
  readonly dialect: Dialect;
  readonly display: string;
  /** Gives the shared connection back; the last holder closes it. */
  release(): Promise<void>;
}

const shared = new Map<string, { knex: Knex; refs: number; parsed: ParsedConnection }>();

/**
 * One knex instance per connection string per process, shared by every queue broker and the task
 * log broker on it. For SQLite this means one writer connection in the process, so the queue and
 * the log never wait on each other's locks.
 */
export function acquireConnection(connection: string): RdsConnection {
  const parsed = parseConnection(connection);
  const key = parsed.dialect === 'sqlite' && (parsed.config.connection as { filename: string }).filename === ':memory:' ? connection : JSON.stringify(parsed.config.connection);
  let entry = shared.get(key);
  if (!entry) {
    if (parsed.dialect === 'sqlite') {
      const filename = (parsed.config.connection as { filename: string }).filename;
      if (filename !== ':memory:') mkdirSync(dirname(filename), { recursive: true });
    }
    entry = { knex: knex(parsed.config), refs: 0, parsed };
    shared.set(key, entry);
  }
  entry.refs++;
  const held = entry;
  let released = false;
  return {
    knex: held.knex,
    dialect: parsed.dialect,
    display: parsed.display,
    async release() {
      if (released) return;
      released = true;
      held.refs--;
      if (held.refs === 0) {
        shared.delete(key);
        await held.knex.destroy();
      }
    },
  };
}

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;

/** Table names come from config: checked here so they can be used as SQL identifiers. */
export function checkTableName(option: string, name: string): string {
  if (!IDENTIFIER.test(name)) throw new ConfigError(`${option} "${name}" is not a valid table name (letters, digits, _; at most 63)`);
  return name;
}
