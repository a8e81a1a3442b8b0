import { execFileSync } from 'node:child_process';
import { appendFileSync, chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A PostgreSQL server of a test's own, to stop and start at will (the shared one stays up). */
export interface ThrowawayPostgres {
  url: string;
  stop(): void;
  start(): void;
  destroy(): void;
}

function freePort(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, host, () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

/** Why this machine cannot start one, or undefined when it can (PostgreSQL's binaries, root to act as postgres). */
export function throwawayPostgresProblem(): string | undefined {
  if (process.getuid?.() !== 0) return 'not root (initdb must run as the postgres user)';
  if (!existsSync('/usr/lib/postgresql')) return 'no /usr/lib/postgresql';
  return undefined;
}

export interface ThrowawayPostgresOptions {
  /** The address it listens on (default 127.0.0.1). */
  host?: string;
  /** A network (CIDR) whose clients it trusts besides the loopback, e.g. simulated hosts'. */
  trust?: string;
}

/**
 * initdb in a temp folder and pg_ctl start on a free port of 127.0.0.1 (or `host`), as the
 * postgres user (trust auth, fsync off: it is thrown away). The caller destroys it.
 */
export async function startThrowawayPostgres(options: ThrowawayPostgresOptions = {}): Promise<ThrowawayPostgres> {
  const host = options.host ?? '127.0.0.1';
  const version = readdirSync('/usr/lib/postgresql').sort().pop() as string;
  const bin = (name: string) => join('/usr/lib/postgresql', version, 'bin', name);
  const dir = mkdtempSync(join(tmpdir(), 'taskq-pg-'));
  const { uid, gid } = { uid: Number(execFileSync('id', ['-u', 'postgres']).toString()), gid: Number(execFileSync('id', ['-g', 'postgres']).toString()) };
  chownSync(dir, uid, gid);
  const data = join(dir, 'data');
  const asPostgres = (cmd: string, args: string[]) => execFileSync('runuser', ['-u', 'postgres', '--', cmd, ...args], { stdio: 'pipe' });
  asPostgres(bin('initdb'), ['-D', data, '-A', 'trust', '-U', 'postgres', '--no-sync']);
  if (options.trust) appendFileSync(join(data, 'pg_hba.conf'), `host all all ${options.trust} trust\n`);
  const port = await freePort(host);
  const serverOptions = `-p ${port} -k ${dir} -c listen_addresses=${host} -c fsync=off -c max_connections=200`;
  const start = () => void asPostgres(bin('pg_ctl'), ['-D', data, '-o', serverOptions, '-l', join(dir, 'server.log'), '-w', 'start']);
  const stop = () => void asPostgres(bin('pg_ctl'), ['-D', data, '-m', 'fast', '-w', 'stop']);
  start();
  return {
    url: `postgres://postgres@${host}:${port}/postgres`,
    start,
    stop,
    destroy() {
      try {
        stop();
      } catch {
        // Already stopped.
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
