import { randomBytes } from 'node:crypto';
import { Client } from 'pg';
import type { BenchDatabase } from './peer';

/** Runs one statement on its own connection: CREATE and DROP DATABASE cannot share one with the database. */
async function onServer(serverUrl: string, text: string): Promise<void> {
  const client = new Client({ connectionString: serverUrl });
  await client.connect();
  try {
    await client.query(text);
  } finally {
    await client.end();
  }
}

/**
 * A database of the bench's own on the PostgreSQL server it is given, created at the start and
 * dropped at the end, failure or not. The server outlives the run (and is shared with other
 * work), so the name is unique and the drop is forced: a worker process killed mid-run must not
 * keep the database alive.
 */
export class ThrowawayDatabase implements BenchDatabase {
  private client?: Client;
  private dropped = false;

  private constructor(
    private readonly serverUrl: string,
    readonly name: string,
    /** The connection URL of the throwaway database. */
    readonly url: string,
  ) {}

  static async create(serverUrl: string): Promise<ThrowawayDatabase> {
    const name = `taskq_bench_${process.pid}_${randomBytes(4).toString('hex')}`;
    const url = new URL(serverUrl);
    url.pathname = `/${name}`;
    await onServer(serverUrl, `CREATE DATABASE ${name}`);
    return new ThrowawayDatabase(serverUrl, name, url.toString());
  }

  /** On one connection of its own, opened on first use. */
  async query<R extends object>(text: string, values: unknown[] = []): Promise<R[]> {
    if (!this.client) {
      const client = new Client({ connectionString: this.url });
      await client.connect();
      this.client = client;
    }
    return (await this.client.query<R>(text, values)).rows;
  }

  async settle(): Promise<void> {
    await this.query('ANALYZE');
    await this.query('CHECKPOINT');
  }

  /** The server's version, e.g. "15.20 (Debian 15.20-0+deb12u1)". */
  async serverVersion(): Promise<string> {
    const [row] = await this.query<{ server_version: string }>('SHOW server_version');
    return row.server_version;
  }

  /** Drops the database (idempotent), whoever is still connected to it. */
  async drop(): Promise<void> {
    if (this.dropped) return;
    this.dropped = true;
    const client = this.client;
    this.client = undefined;
    await client?.end().catch(() => undefined);
    await onServer(this.serverUrl, `DROP DATABASE IF EXISTS ${this.name} WITH (FORCE)`);
  }
}
