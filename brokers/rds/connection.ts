import { existsSync, mkdirSync } from 'node:fs';
import type BetterSqlite3 from 'better-sqlite3';
import { dirname, resolve } from 'node:path';
import knex, { type Knex } from 'knex';
import { ConfigError } from '../../src/errors';
import { KnexExecutor, type SqlExecutor, SqliteExecutor } from './sqlExecutor';

export type Dialect = 'sqlite' | 'postgres' | 'mysql';

export interface ParsedConnection {
  dialect: Dialect;
  /** The connection string with any password masked: safe to log. */
  display: string;
  /** sqlite: the file (resolved) or :memory:; otherwise the URL as given. */
  target: string;
}

/** `sqlite:PATH`, `sqlite::memory:`, `postgres://…`, `mysql://…`. */
export function parseConnection(connection: string): ParsedConnection {
  if (typeof connection !== 'string' || connection === '') throw new ConfigError('RDS connection must be a non-empty string such as "sqlite:./taskq.db"');
  if (connection.startsWith('sqlite:')) {
    const path = connection.slice('sqlite:'.length);
    if (path === '') throw new ConfigError(`RDS connection "${connection}": sqlite needs a file path (sqlite:./taskq.db) or sqlite::memory:`);
    return { dialect: 'sqlite', display: connection, target: path === ':memory:' ? ':memory:' : resolve(path) };
  }
  const match = /^(postgres|postgresql|mysql|mariadb):\/\//.exec(connection);
  if (!match) throw new ConfigError(`RDS connection "${mask(connection)}" is not one of sqlite:PATH, postgres://…, mysql://…`);
  const dialect: Dialect = match[1].startsWith('postgres') ? 'postgres' : 'mysql';
  return { dialect, display: mask(connection), target: dialect === 'mysql' ? connection.replace(/^mariadb:/, 'mysql:') : connection };
}

export function mask(connection: string): string {
  return connection.replace(/\/\/([^:/@]+):([^@]*)@/, '//$1:***@');
}

export interface RdsConnection {
  readonly dialect: Dialect;
  readonly display: string;
  /** Builds SQL (query and schema builders, toSQL()); runs queries only for PostgreSQL and MySQL. */
  readonly knex: Knex;
  readonly exec: SqlExecutor;
  /**
   * The database's clock in epoch ms, as an SQL expression. Leases and visibility are computed
   * with it, never with a host's clock: a host whose clock runs ahead cannot take over tasks.
   */
  readonly now: string;
  /** Quotes a (checked) identifier for this dialect. */
  quote(identifier: string): string;
  /**
   * A column (or `table.column`) written so that no index serves a condition on it: SQLite has
   * no statistics and, beside an IN list of ids, would walk a status or queue index through every
   * waiting row instead of looking the ids up. Unary `+` there; the column as it is elsewhere.
   */
  unindexed(column: string): string;
  /** Gives the shared connection back; the last holder closes it. */
  release(): Promise<void>;
}

/**
 * Creates the folder of a SQLite file, one level at a time from the nearest one that exists.
 * Not mkdirSync's recursive mode: under /proc it loops forever instead of failing.
 */
function makeFolder(display: string, folder: string): void {
  const missing: string[] = [];
  for (let dir = folder; !existsSync(dir); dir = dirname(dir)) {
    missing.unshift(dir);
    if (dirname(dir) === dir) break;
  }
  for (const dir of missing) {
    try {
      mkdirSync(dir);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'EEXIST') continue;
      throw new ConfigError(`RDS connection "${display}": cannot create the folder ${dir} for the database file: ${(error as Error).message}`);
    }
  }
}

/**
 * Epoch ms on the database's clock. SQLite's is the host's (the file is local); 'now' is fixed
 * within one statement there, as statement_timestamp() is in PostgreSQL and NOW(3) in MySQL.
 */
const DATABASE_NOW: Record<Dialect, string> = {
  sqlite: "CAST(ROUND((julianday('now') - 2440587.5) * 86400000) AS INTEGER)",
  postgres: 'CAST(EXTRACT(EPOCH FROM statement_timestamp()) * 1000 AS BIGINT)',
  mysql: 'CAST(UNIX_TIMESTAMP(NOW(3)) * 1000 AS SIGNED)',
};

interface Shared {
  connection: Omit<RdsConnection, 'release'>;
  refs: number;
}

const shared = new Map<string, Shared>();

function open(parsed: ParsedConnection): Omit<RdsConnection, 'release'> {
  if (parsed.dialect === 'sqlite') {
    if (parsed.target !== ':memory:') makeFolder(parsed.display, dirname(parsed.target));
    const Database = require('better-sqlite3') as typeof import('better-sqlite3');
    let db: BetterSqlite3.Database;
    try {
      db = new Database(parsed.target);
    } catch (error) {
      throw new ConfigError(`RDS connection "${parsed.display}": cannot open the database file ${parsed.target}: ${(error as Error).message}`);
    }
    // WAL lets readers run beside the writer; busy_timeout makes other processes wait for the
    // write lock instead of failing at once; NORMAL syncs at checkpoints, not at every commit.
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
    db.pragma('busy_timeout = 10000');
    // Checkpoint every ~40 MB of WAL rather than every 4 MB: at the default, one enqueue in about
    // a hundred paid a checkpoint's fsync (the p99 of single enqueues).
    db.pragma('wal_autocheckpoint = 10000');
    return {
      dialect: 'sqlite',
      display: parsed.display,
      knex: knex({ client: 'better-sqlite3', useNullAsDefault: true }),
      exec: new SqliteExecutor(db, parsed.target === ':memory:' ? undefined : parsed.target),
      now: DATABASE_NOW.sqlite,
      quote: (id) => `"${id}"`,
      unindexed: (column) => `+${column}`,
    };
  }
  const driver = parsed.dialect === 'postgres' ? 'pg' : 'mysql2';
  try {
    require.resolve(driver);
  } catch {
    throw new ConfigError(`RDS connection "${parsed.display}" needs the ${driver} package: npm install ${driver}`);
  }
  // knex prints driver warnings ("Acquire connection error", "Connection Error: …") with console.log,
  // on stdout, where they would corrupt a command's results (--json): they are logs, on stderr,
  // one line each. A failed connection also reaches the caller as an error, which taskq logs
  // once with what it does next: knex's own copy of it (with a stack trace) is left out.
  const toStderr = (message: unknown) => {
    const text = message instanceof Error ? message.message : String(message);
    if (/^(Acquire connection error|Connection Error)\b/.test(text)) return;
    console.error(`knex: ${text.split('\n')[0]}`);
  };
  const log = { warn: toStderr, error: toStderr, deprecate: toStderr, debug: toStderr };
  // compileSqlOnError off: knex would write the statement with its values filled in into the
  // error's message (task params, reports), and messages are logged. KnexExecutor then takes the
  // statement off the message altogether.
  const instance = knex({ client: driver, connection: parsed.target, pool: { min: 0, max: 10 }, log, compileSqlOnError: false });
  return {
    dialect: parsed.dialect,
    display: parsed.display,
    knex: instance,
    exec: new KnexExecutor(parsed.dialect, instance),
    now: DATABASE_NOW[parsed.dialect],
    quote: parsed.dialect === 'mysql' ? (id) => `\`${id}\`` : (id) => `"${id}"`,
    unindexed: (column) => column,
  };
}

/**
 * One connection per database per process, shared by every queue broker and the task log broker
 * on it. For SQLite that is one handle: the queue and the log never wait on each other's locks.
 */
export function acquireConnection(connection: string): RdsConnection {
  const parsed = parseConnection(connection);
  // sqlite::memory: too is shared while anyone holds it, so a queue and a log can use one.
  const key = `${parsed.dialect}:${parsed.target}`;
  let entry = shared.get(key);
  if (!entry) {
    entry = { connection: open(parsed), refs: 0 };
    shared.set(key, entry);
  }
  entry.refs++;
  const held = entry;
  let released = false;
  return {
    ...held.connection,
    async release() {
      if (released) return;
      released = true;
      held.refs--;
      if (held.refs === 0) {
        shared.delete(key);
        await held.connection.exec.close();
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
