/**
 * The SQL tables' schema by versioned migrations, on SQLite, PostgreSQL and MariaDB: a second
 * initialize does nothing, an older table is upgraded in place with its rows, a newer one is
 * refused, and processes initializing at the same time do it once.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RdsQueueBroker, RdsTaskLogBroker, TaskLogFilter, TaskStatus } from '../../src';
import { SCHEMA_VERSIONS } from '../../brokers/rds/schema';
import { VERSIONS_TABLE } from '../../brokers/rds/migrations';
import { acquireConnection } from '../../brokers/rds/connection';
import { CliProject } from '../helpers/cliProject';
import { useMysqlDatabase } from '../helpers/mysql';
import { usePostgresDatabase } from '../helpers/postgres';

const dir = mkdtempSync(join(tmpdir(), 'taskq-migrations-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const databases: [string, string][] = [['SQLite', `sqlite:${join(dir, 'm.db')}`]];
const pg = usePostgresDatabase('migrations');
if (pg) databases.push(['PostgreSQL', pg]);
const mysql = useMysqlDatabase('migrations');
if (mysql) databases.push(['MariaDB', mysql]);

let n = 0;

/** Raw SQL on the database, beside the brokers (the connection is shared and reference-counted). */
async function withSql<T>(connection: string, work: (sql: (text: string, bindings?: (string | number)[]) => Promise<Array<Record<string, unknown>>>) => Promise<T>): Promise<T> {
  const db = acquireConnection(connection);
  try {
    // better-sqlite3 tells a statement that returns rows from one that does not.
    return await work(async (text, bindings = []) => (/^\s*SELECT/i.test(text) ? db.exec.all(text, bindings) : (await db.exec.run(text, bindings), [])));
  } finally {
    await db.release();
  }
}

const versionOf = (connection: string, table: string) =>
  withSql(connection, async (sql) => {
    const [row] = await sql(`SELECT version, updated_at FROM ${VERSIONS_TABLE} WHERE table_name = ?`, [table]);
    return row ? { version: Number(row.version), updatedAt: Number(row.updated_at) } : undefined;
  });

describe.each(databases)('%s', (_name, connection) => {
  test('initialize records the latest versions; a second initialize changes nothing', async () => {
    const table = `mig_log_${++n}`;
    const messages = `mig_messages_${n}`;
    const log = new RdsTaskLogBroker({ connection, table });
    const queue = new RdsQueueBroker({ connection, table: messages });
    try {
      await log.createContainer();
      await queue.createContainer('q');
      const first = await versionOf(connection, table);
      expect(first?.version).toBe(SCHEMA_VERSIONS.taskLog);
      expect((await versionOf(connection, messages))?.version).toBe(SCHEMA_VERSIONS.messages);
      await new Promise((resolve) => setTimeout(resolve, 5));
      await log.createContainer();
      await queue.createContainer('q');
      expect(await versionOf(connection, table)).toEqual(first);
    } finally {
      await log.close();
      await queue.close();
    }
  });

  test('a task log table an older taskq made (no stalls, no archived_from, no version) is upgraded in place, its rows kept', async () => {
    const table = `mig_old_${++n}`;
    await withSql(connection, async (sql) => {
      const text = connection.startsWith('mysql') ? 'LONGTEXT' : 'TEXT';
      await sql(`CREATE TABLE ${table} (id VARCHAR(64) PRIMARY KEY, parent_id VARCHAR(64), task_name VARCHAR(200) NOT NULL, label VARCHAR(255) NOT NULL DEFAULT '',
        status VARCHAR(20) NOT NULL, owner VARCHAR(255), queue VARCHAR(200), parameters ${text}, report ${text}, progress ${text}, attempts INTEGER NOT NULL DEFAULT 0,
        worker_id VARCHAR(255), lease_until BIGINT, created_at BIGINT NOT NULL, updated_at BIGINT NOT NULL, started_at BIGINT, finished_at BIGINT)`);
      await sql(`INSERT INTO ${table} (id, task_name, status, parameters, attempts, created_at, updated_at) VALUES ('old-1', 'T', 'completed', '{"a":1}', 1, 1000, 2000)`);
    });
    const log = new RdsTaskLogBroker({ connection, table });
    try {
      await log.createContainer();
      expect((await versionOf(connection, table))?.version).toBe(SCHEMA_VERSIONS.taskLog);
      expect(await log.get('old-1')).toMatchObject({ id: 'old-1', status: TaskStatus.Completed, parameters: { a: 1 }, stalls: 0, archivedFrom: null });
      // The new columns work: an archive records where it came from.
      await log.changeStatus('old-1', { from: [TaskStatus.Completed], to: TaskStatus.Archived });
      expect(await log.get('old-1')).toMatchObject({ status: TaskStatus.Archived, archivedFrom: TaskStatus.Completed });
    } finally {
      await log.close();
    }
  });

  test('version 5: the (status, created_at) and (task_name, status) indexes take the place of the one-column ones, also on a table at version 4 with rows', async () => {
    const indexesOf = (table: string) =>
      withSql(connection, async (sql) => {
        const rows = connection.startsWith('sqlite')
          ? await sql("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = ?", [table])
          : connection.startsWith('postgres')
            ? await sql('SELECT indexname AS name FROM pg_indexes WHERE schemaname = current_schema() AND tablename = ?', [table])
            : await sql('SELECT DISTINCT index_name AS name FROM information_schema.statistics WHERE table_schema = DATABASE() AND table_name = ?', [table]);
        return rows.map((row) => String(row.name)).filter((name) => name.startsWith(table) && name !== `${table}_pkey`);
      });
    const table = `mig_idx_${++n}`;
    const log = new RdsTaskLogBroker({ connection, table });
    try {
      await log.createContainer();
      expect((await indexesOf(table)).sort()).toEqual([`${table}_created_idx`, `${table}_finished_idx`, `${table}_name_status_idx`, `${table}_parent_idx`, `${table}_status_created_idx`, `${table}_unique_idx`]);
      // Back to version 4 as an older taskq left it: its indexes, and a row.
      await withSql(connection, async (sql) => {
        const drop = (name: string) => sql(connection.startsWith('mysql') ? `DROP INDEX ${name} ON ${table}` : `DROP INDEX ${name}`);
        await drop(`${table}_status_created_idx`);
        await drop(`${table}_name_status_idx`);
        await sql(`CREATE INDEX ${table}_status_idx ON ${table} (status)`);
        await sql(`CREATE INDEX ${table}_name_idx ON ${table} (task_name)`);
        await sql(`UPDATE ${VERSIONS_TABLE} SET version = 4 WHERE table_name = ?`, [table]);
      });
      await log.add([{ id: 'kept-1', parentId: null, taskName: 'T', label: '', owner: null, queue: 'q', parameters: {}, createdAt: new Date(), status: TaskStatus.Enqueued }]);
      await log.createContainer();
      expect((await versionOf(connection, table))?.version).toBe(SCHEMA_VERSIONS.taskLog);
      expect((await indexesOf(table)).sort()).toEqual([`${table}_created_idx`, `${table}_finished_idx`, `${table}_name_status_idx`, `${table}_parent_idx`, `${table}_status_created_idx`, `${table}_unique_idx`]);
      expect(await log.get('kept-1')).toMatchObject({ status: TaskStatus.Enqueued });
    } finally {
      await log.close();
    }
  });

  test('version 7: a table at version 6 with finished rows gets the finished_at index, and the throughput counts them', async () => {
    const table = `mig_fin_${++n}`;
    const log = new RdsTaskLogBroker({ connection, table });
    try {
      await log.createContainer();
      await withSql(connection, async (sql) => {
        await sql(connection.startsWith('mysql') ? `DROP INDEX ${table}_finished_idx ON ${table}` : `DROP INDEX ${table}_finished_idx`);
        await sql(`UPDATE ${VERSIONS_TABLE} SET version = 6 WHERE table_name = ?`, [table]);
      });
      await log.add([{ id: 'done-1', parentId: null, taskName: 'T', label: '', owner: null, queue: 'q', parameters: {}, createdAt: new Date(), status: TaskStatus.Enqueued }]);
      await log.changeStatus('done-1', { from: [TaskStatus.Enqueued], to: TaskStatus.Completed, finished: true });
      await log.createContainer();
      expect((await versionOf(connection, table))?.version).toBe(SCHEMA_VERSIONS.taskLog);
      const names = await withSql(connection, (sql) =>
        connection.startsWith('sqlite')
          ? sql("SELECT name FROM sqlite_master WHERE type = 'index' AND name = ?", [`${table}_finished_idx`])
          : connection.startsWith('postgres')
            ? sql('SELECT indexname AS name FROM pg_indexes WHERE schemaname = current_schema() AND indexname = ?', [`${table}_finished_idx`])
            : sql('SELECT DISTINCT index_name AS name FROM information_schema.statistics WHERE table_schema = DATABASE() AND index_name = ?', [`${table}_finished_idx`]),
      );
      expect(names).toHaveLength(1);
      const minute = Math.floor(Date.now() / 60_000) * 60_000;
      expect(await log.countFinished(new TaskLogFilter(), new Date(minute - 60_000), 60_000, 2)).toEqual([{ start: new Date(minute), completed: 1, failed: 0 }]);
    } finally {
      await log.close();
    }
  });

  test('a table recorded at a version newer than this taskq is refused, untouched', async () => {
    const table = `mig_new_${++n}`;
    const log = new RdsTaskLogBroker({ connection, table });
    try {
      await log.createContainer();
      await withSql(connection, (sql) => sql(`UPDATE ${VERSIONS_TABLE} SET version = 99 WHERE table_name = ?`, [table]));
      await expect(log.createContainer()).rejects.toThrow(new RegExp(`${table} is at schema version 99, newer than this taskq knows \\(${SCHEMA_VERSIONS.taskLog}\\)`));
      expect((await versionOf(connection, table))?.version).toBe(99);
    } finally {
      await log.close();
    }
  });

  test('a recorded table dropped since is made again', async () => {
    const table = `mig_dropped_${++n}`;
    const log = new RdsTaskLogBroker({ connection, table });
    try {
      await log.createContainer();
      await log.dropContainer();
      await log.createContainer();
      await log.add([{ id: 'x', parentId: null, taskName: 'T', label: '', owner: null, queue: 'q', parameters: null, createdAt: new Date(), status: TaskStatus.Enqueued }]);
      expect((await log.get('x'))?.status).toBe(TaskStatus.Enqueued);
    } finally {
      await log.close();
    }
  });

  test('four `taskq initialize-queue` processes at once on a new database: each succeeds, the schema is made once', async () => {
    const suffix = `${++n}_${process.pid}`;
    const config = {
      queues: [{ name: 'standard', broker: { type: 'rds', connection, table: `par_messages_${suffix}` } }],
      taskLog: { type: 'rds', connection, table: `par_log_${suffix}` },
      tasks: ['./tasks.js'],
    };
    const project = new CliProject(config);
    try {
      const results = await Promise.all(Array.from({ length: 4 }, () => project.run(['initialize-queue'])));
      for (const result of results) expect({ code: result.code, stderr: result.stderr }).toEqual({ code: 0, stderr: '' });
      expect((await versionOf(connection, `par_log_${suffix}`))?.version).toBe(SCHEMA_VERSIONS.taskLog);
      expect((await versionOf(connection, `par_messages_${suffix}`))?.version).toBe(SCHEMA_VERSIONS.messages);
    } finally {
      project.remove();
    }
  });
});
