import { randomBytes } from 'node:crypto';
import type { Connection, RowDataPacket } from 'mysql2/promise';
import type { BenchDatabase } from './peer';

type Mysql = typeof import('mysql2/promise');

/** mysql2 (a dev dependency, and taskq's optional peer dependency), loaded when a MariaDB run needs it. */
function mysql(): Mysql {
  return require('mysql2/promise') as Mysql;
}

/** Runs one statement on its own connection to the server (no database selected). */
async function onServer(serverUrl: string, text: string): Promise<void> {
  const connection = await mysql().createConnection(serverUrl);
  try {
    await connection.query(text);
  } finally {
    await connection.end();
  }
}

/**
 * A database of the bench's own on the MariaDB (or MySQL) server it is given, created at the start
 * and dropped at the end, failure or not: the server is shared with other work, so the name is
 * unique. Plain SQL on one connection of its own, opened on first use (`?` placeholders).
 */
export class ThrowawayMysqlDatabase implements BenchDatabase {
  private connection?: Connection;
  private dropped = false;

  private constructor(
    private readonly serverUrl: string,
    readonly name: string,
    readonly url: string,
  ) {}

  static async create(serverUrl: string): Promise<ThrowawayMysqlDatabase> {
    const name = `taskq_bench_${process.pid}_${randomBytes(4).toString('hex')}`;
    const server = new URL(serverUrl);
    server.pathname = '/';
    const url = new URL(serverUrl);
    url.pathname = `/${name}`;
    await onServer(server.toString(), `CREATE DATABASE ${name}`);
    return new ThrowawayMysqlDatabase(server.toString(), name, url.toString());
  }

  async query<R extends object>(text: string, values: unknown[] = []): Promise<R[]> {
    if (!this.connection) this.connection = await mysql().createConnection(this.url);
    const [rows] = await this.connection.query<RowDataPacket[]>(text, values);
    return rows as R[];
  }

  /** ANALYZE TABLE of every table of the database (InnoDB has no CHECKPOINT statement). */
  async settle(): Promise<void> {
    const tables = await this.query<{ name: string }>('SELECT table_name AS name FROM information_schema.tables WHERE table_schema = ?', [this.name]);
    if (tables.length > 0) await this.query(`ANALYZE TABLE ${tables.map((t) => `\`${t.name}\``).join(', ')}`);
  }

  /** e.g. "10.11.14-MariaDB-0+deb12u2". */
  async serverVersion(): Promise<string> {
    const [row] = await this.query<{ version: string }>('SELECT VERSION() AS version');
    return row.version;
  }

  async drop(): Promise<void> {
    if (this.dropped) return;
    this.dropped = true;
    const connection = this.connection;
    this.connection = undefined;
    await connection?.end().catch(() => undefined);
    await onServer(this.serverUrl, `DROP DATABASE IF EXISTS ${this.name}`);
  }
}
