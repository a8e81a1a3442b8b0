import { ConfigError } from '../../../src/errors';
import type { RdsConnection } from '../connection';
import type { SqlExecutor } from '../sqlExecutor';

/** The first releases with SELECT … FOR UPDATE SKIP LOCKED. */
const MYSQL_MIN = [8, 0, 1];
const MARIADB_MIN = [10, 6, 0];

/**
 * Whether a MySQL or MariaDB server of this `SELECT VERSION()` can run the claim; the version it
 * needs when it cannot. An unreadable version is given the benefit of the doubt.
 */
export function skipLockedVersionProblem(version: string): string | undefined {
  const mariadb = /mariadb/i.test(version);
  const min = mariadb ? MARIADB_MIN : MYSQL_MIN;
  const parts = (/^(\d+)\.(\d+)\.(\d+)/.exec(version) ?? []).slice(1).map(Number);
  if (parts.length !== 3) return undefined;
  const i = min.findIndex((n, at) => parts[at] !== n);
  if (i < 0 || parts[i] > min[i]) return undefined;
  return `${mariadb ? 'MariaDB' : 'MySQL'} ${min.join('.')} or later`;
}

const checked = new WeakMap<SqlExecutor, Promise<void>>();

/**
 * Workers claim with SKIP LOCKED (never waiting on each other's rows): a MySQL server older than
 * 8.0.1 or MariaDB older than 10.6 cannot run the claim, and would say so with a syntax error.
 * This says it first, once per connection. Other dialects need nothing.
 */
export function requireSkipLocked(db: RdsConnection): Promise<void> {
  if (db.dialect !== 'mysql') return Promise.resolve();
  let check = checked.get(db.exec);
  if (!check) {
    check = (async () => {
      const [row] = await db.exec.all<{ version: string }>('SELECT VERSION() AS version');
      const version = String(row?.version ?? '');
      const needs = skipLockedVersionProblem(version);
      if (needs) throw new ConfigError(`RDS connection "${db.display}": the server is ${version}; taskq needs ${needs} (workers claim messages with FOR UPDATE SKIP LOCKED)`);
    })();
    // A query that failed (server down) is no verdict: asked again next time.
    check.catch(() => checked.delete(db.exec));
    checked.set(db.exec, check);
  }
  return check;
}
