/**
 * Schema version 4 of the task log (unique tasks), on SQLite, PostgreSQL and MariaDB: a table at
 * version 3 with rows is upgraded in place, its rows kept; the new index holds a key once among
 * pending entries only; a step interrupted halfway (MySQL commits DDL as it goes) is resumed.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DuplicateTaskIdError, RdsTaskLogBroker, TaskStatus, type NewTaskLogEntry } from '../../src';
import { SCHEMA_VERSIONS } from '../../brokers/rds/schema';
import { VERSIONS_TABLE } from '../../brokers/rds/migrations';
import { acquireConnection } from '../../brokers/rds/connection';
import { useMysqlDatabase } from '../helpers/mysql';
import { usePostgresDatabase } from '../helpers/postgres';

const dir = mkdtempSync(join(tmpdir(), 'taskq-unique-migration-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const databases: [string, string][] = [['SQLite', `sqlite:${join(dir, 'm.db')}`]];
const pg = usePostgresDatabase('unique_migration');
if (pg) databases.push(['PostgreSQL', pg]);
const mysql = useMysqlDatabase('unique_migration');
if (mysql) databases.push(['MariaDB', mysql]);

async function sql(connection: string, text: string, bindings: (string | number)[] = []): Promise<Array<Record<string, unknown>>> {
  const db = acquireConnection(connection);
  try {
    if (/^\s*SELECT/i.test(text)) return await db.exec.all(text, bindings);
    await db.exec.run(text, bindings);
    return [];
  } finally {
    await db.release();
  }
}

const entry = (id: string, status: TaskStatus = TaskStatus.Enqueued): NewTaskLogEntry => ({ id, parentId: null, taskName: 'T', label: '', owner: null, queue: 'q', parameters: { id }, createdAt: new Date(), status });

let n = 0;

describe.each(databases)('%s', (_name, connection) => {
  test('a version-3 task log with rows is upgraded to unique tasks in place', async () => {
    const table = `uniq_mig_${++n}`;
    const text = connection.startsWith('mysql') ? 'LONGTEXT' : 'TEXT';
    const charset = connection.startsWith('mysql') ? ' CHARACTER SET utf8mb4 COLLATE utf8mb4_bin' : '';
    // The table as taskq 0.1 (schema version 3) made it.
    await sql(connection, `CREATE TABLE ${table} (id VARCHAR(64) PRIMARY KEY, parent_id VARCHAR(64), task_name VARCHAR(200) NOT NULL, label VARCHAR(255) NOT NULL DEFAULT '',
      status VARCHAR(20) NOT NULL, owner VARCHAR(255), queue VARCHAR(200), parameters ${text}, report ${text}, progress ${text}, attempts INTEGER NOT NULL DEFAULT 0,
      worker_id VARCHAR(255), lease_until BIGINT, created_at BIGINT NOT NULL, updated_at BIGINT NOT NULL, started_at BIGINT, finished_at BIGINT,
      stalls INTEGER NOT NULL DEFAULT 0, archived_from VARCHAR(20))${charset}`);
    const log = new RdsTaskLogBroker({ connection, table });
    try {
      await log.createContainer().catch(() => undefined); // makes the versions table if it is missing
      await sql(connection, `UPDATE ${VERSIONS_TABLE} SET version = 3 WHERE table_name = ?`, [table]);
      // Undo what that initialize added, so the table is at version 3 as recorded.
      await dropUniqueSchema(connection, table);
      await sql(connection, `INSERT INTO ${table} (id, task_name, status, parameters, attempts, created_at, updated_at) VALUES ('old-1', 'T', 'enqueued', '{"a":1}', 0, 1000, 2000)`);

      await log.createContainer();
      const [row] = await sql(connection, `SELECT version FROM ${VERSIONS_TABLE} WHERE table_name = ?`, [table]);
      expect(Number(row.version)).toBe(SCHEMA_VERSIONS.taskLog);
      expect(await log.get('old-1')).toMatchObject({ status: TaskStatus.Enqueued, parameters: { a: 1 } });

      // A key is held once among pending entries, and freed once its task is taken.
      expect(await log.addUnique(entry('u-1'), 'k')).toEqual({ outcome: 'added' });
      expect(await log.addUnique(entry('u-2'), 'k')).toEqual({ outcome: 'existing', id: 'u-1' });
      await expect(log.addUnique(entry('old-1'), 'other')).rejects.toBeInstanceOf(DuplicateTaskIdError);
      expect(await log.replaceUnique('k', { n: 2 })).toEqual({ id: 'u-1', revision: 1 });
      expect(await log.takeUnique('u-1', 0)).toBe(false);
      expect(await log.takeUnique('u-1', 1)).toBe(true);
      expect(await log.addUnique(entry('u-3'), 'k')).toEqual({ outcome: 'added' });
      expect(await log.get('u-1')).toMatchObject({ parameters: { n: 2 } });
    } finally {
      await log.close();
    }
  });

  test('an upgrade to version 4 interrupted halfway is resumed', async () => {
    const table = `uniq_half_${++n}`;
    const log = new RdsTaskLogBroker({ connection, table });
    try {
      await log.createContainer();
      // As if the process died after the columns were added, before the index: version 3 recorded.
      await dropIndexOnly(connection, table);
      await sql(connection, `UPDATE ${VERSIONS_TABLE} SET version = 3 WHERE table_name = ?`, [table]);
      await log.createContainer();
      const [row] = await sql(connection, `SELECT version FROM ${VERSIONS_TABLE} WHERE table_name = ?`, [table]);
      expect(Number(row.version)).toBe(SCHEMA_VERSIONS.taskLog);
      expect(await log.addUnique(entry('a'), 'k')).toEqual({ outcome: 'added' });
      expect(await log.addUnique(entry('b'), 'k')).toEqual({ outcome: 'existing', id: 'a' });
    } finally {
      await log.close();
    }
  });
});

async function dropIndexOnly(connection: string, table: string): Promise<void> {
  if (connection.startsWith('mysql')) await sql(connection, `DROP INDEX ${table}_unique_idx ON ${table}`);
  else await sql(connection, `DROP INDEX ${connection.startsWith('sqlite') ? '' : 'IF EXISTS '}${table}_unique_idx`);
}

async function dropUniqueSchema(connection: string, table: string): Promise<void> {
  await dropIndexOnly(connection, table);
  if (connection.startsWith('mysql')) await sql(connection, `ALTER TABLE ${table} DROP COLUMN unique_pending`);
  await sql(connection, `ALTER TABLE ${table} DROP COLUMN unique_key`);
  await sql(connection, `ALTER TABLE ${table} DROP COLUMN unique_revision`);
}
