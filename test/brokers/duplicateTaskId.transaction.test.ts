/**
 * A task id given twice inside the caller's transaction (enqueue option `transaction`) is a
 * DuplicateTaskIdError naming it, on SQLite, PostgreSQL and MariaDB, as it is outside one; the
 * caller's transaction then rolls back as the application decides.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import knex, { type Knex } from 'knex';
import { DuplicateTaskIdError, Queue, QueueDispatcher, RdsQueueBroker, RdsTaskLogBroker, TaskLog, silentLogger } from '../../src';
import { useMysqlDatabase } from '../helpers/mysql';
import { usePostgresDatabase } from '../helpers/postgres';
import { RecordRun } from '../helpers/tasks';

const dir = mkdtempSync(join(tmpdir(), 'taskq-dup-trx-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const databases: [string, string, () => Knex][] = [
  ['SQLite', `sqlite:${join(dir, 'app.db')}`, () => knex({ client: 'better-sqlite3', connection: { filename: join(dir, 'app.db') }, useNullAsDefault: true })],
];
const pg = usePostgresDatabase('duplicate id transaction');
if (pg) databases.push(['PostgreSQL', pg, () => knex({ client: 'pg', connection: pg })]);
const mysql = useMysqlDatabase('duplicate id transaction');
if (mysql) databases.push(['MariaDB', mysql, () => knex({ client: 'mysql2', connection: mysql })]);

let n = 0;

describe.each(databases)('%s', (_name, connection, appKnex) => {
  test('a taken id, alone or in a batch, is named; nothing of the enqueue is written', async () => {
    const suffix = ++n;
    const dispatcher = new QueueDispatcher({
      queues: [new Queue('q', new RdsQueueBroker({ connection, table: `dup_trx_messages_${suffix}` }))],
      taskLog: new TaskLog(new RdsTaskLogBroker({ connection, table: `dup_trx_log_${suffix}` })),
      tasks: [RecordRun],
      logger: silentLogger,
    });
    const app = appKnex();
    try {
      await dispatcher.initialize();
      await dispatcher.enqueue(new RecordRun({ n: 1 }, { id: 'invoice-1' }));
      const alone = await app.transaction((trx) => dispatcher.enqueue(new RecordRun({ n: 2 }, { id: 'invoice-1' }), { transaction: trx })).catch((e: unknown) => e);
      expect(alone).toBeInstanceOf(DuplicateTaskIdError);
      expect(alone).toMatchObject({ taskIds: ['invoice-1'] });
      const batch = await app.transaction((trx) => dispatcher.enqueueMany([new RecordRun({ n: 3 }, { id: 'invoice-2' }), new RecordRun({ n: 4 }, { id: 'invoice-1' })], { transaction: trx })).catch((e: unknown) => e);
      // SQLite's error names the column, not the value: a batch's taken id is named where the database says it.
      if (connection.startsWith('sqlite')) expect(String(batch)).toMatch(/UNIQUE constraint failed/);
      else expect(batch).toMatchObject({ name: 'DuplicateTaskIdError', taskIds: ['invoice-1'] });
      expect(await dispatcher.taskLog.get('invoice-2')).toBeNull();
      expect(await dispatcher.taskLog.get('invoice-1')).toMatchObject({ parameters: { n: 1 } });
      expect(await dispatcher.getQueue('q').broker.count('q')).toBe(1);
    } finally {
      await app.destroy();
      await dispatcher.close();
    }
  });
});
