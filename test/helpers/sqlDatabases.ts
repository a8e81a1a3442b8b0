import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { useMysqlDatabase } from './mysql';
import { usePostgresDatabase } from './postgres';

/**
 * The databases an SQL suite runs on, named: SQLite (a file in a folder of the suite's own,
 * removed after it), PostgreSQL and MariaDB (databases of their own, see usePostgresDatabase and
 * useMysqlDatabase: skipped, visibly, when their URL is not set). Call at the top level of a test file.
 */
export function sqlDatabases(suite: string): [string, string][] {
  const dir = mkdtempSync(join(tmpdir(), `taskq-${suite}-`));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const databases: [string, string][] = [['SQLite', `sqlite:${join(dir, 'db.sqlite')}`]];
  const pg = usePostgresDatabase(suite);
  if (pg) databases.push(['PostgreSQL', pg]);
  const mysql = useMysqlDatabase(suite);
  if (mysql) databases.push(['MariaDB', mysql]);
  return databases;
}
