import { execFileSync } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const PG_ROOT = '/usr/lib/postgresql';

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no free port'))));
    });
  });
}

function idOf(flag: '-u' | '-g'): number {
  return Number(execFileSync('id', [flag, 'postgres']).toString());
}

/**
 * A PostgreSQL server of the bench's own: initdb in a temporary folder, started with pg_ctl on a
 * free port of 127.0.0.1, as the postgres user, with the server's defaults (fsync on, as in
 * production; trust authentication, local only). `destroy` stops it and removes the folder. So a
 * run does not share its server with whatever else the machine runs, and always starts from the
 * same empty cluster.
 */
export class ThrowawayPgServer {
  private destroyed = false;

  private constructor(
    private readonly dir: string,
    private readonly pgCtl: string,
    /** postgres://postgres@127.0.0.1:PORT/postgres */
    readonly url: string,
    /** e.g. "15" */
    readonly majorVersion: string,
  ) {}

  /** Why this machine cannot start one (initdb must run as the postgres user), or undefined when it can. */
  static problem(): string | undefined {
    if (process.getuid?.() !== 0) return 'not running as root (initdb and pg_ctl must run as the postgres user, through runuser)';
    if (!existsSync(PG_ROOT) || readdirSync(PG_ROOT).length === 0) return `no PostgreSQL binaries under ${PG_ROOT}`;
    try {
      idOf('-u');
    } catch {
      return 'no postgres user';
    }
    return undefined;
  }

  static async start(): Promise<ThrowawayPgServer> {
    const version = readdirSync(PG_ROOT).sort((a, b) => Number(a) - Number(b)).pop() as string;
    const bin = (name: string) => join(PG_ROOT, version, 'bin', name);
    const dir = mkdtempSync(join(tmpdir(), 'taskq-bench-pg-'));
    try {
      chownSync(dir, idOf('-u'), idOf('-g'));
      const data = join(dir, 'data');
      ThrowawayPgServer.asPostgres(bin('initdb'), ['-D', data, '-A', 'trust', '-U', 'postgres', '--no-sync']);
      const port = await freePort();
      const options = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1`;
      ThrowawayPgServer.asPostgres(bin('pg_ctl'), ['-D', data, '-o', options, '-l', join(dir, 'server.log'), '-w', 'start']);
      return new ThrowawayPgServer(dir, bin('pg_ctl'), `postgres://postgres@127.0.0.1:${port}/postgres`, version);
    } catch (error) {
      rmSync(dir, { recursive: true, force: true });
      throw error;
    }
  }

  private static asPostgres(cmd: string, args: string[]): void {
    execFileSync('runuser', ['-u', 'postgres', '--', cmd, ...args], { stdio: 'pipe' });
  }

  /** Stops the server (fast shutdown: connections are ended) and removes its folder; idempotent. */
  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    try {
      ThrowawayPgServer.asPostgres(this.pgCtl, ['-D', join(this.dir, 'data'), '-m', 'fast', '-w', 'stop']);
    } catch {
      // Not running any more.
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}
