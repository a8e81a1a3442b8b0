/**
 * `dispatcher.enqueue(task, { transaction })`: the task is written in the caller's transaction,
 * so it exists if and only if the application's change committed. On SQLite, PostgreSQL and
 * MariaDB with a knex transaction, on PostgreSQL with a pg client too; refused elsewhere.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SQSClient } from '@aws-sdk/client-sqs';
import knex, { type Knex } from 'knex';
import { Client } from 'pg';
import {
  ConfigError,
  InMemoryQueueBroker,
  InMemoryTaskLogBroker,
  Queue,
  QueueDispatcher,
  RdsQueueBroker,
  RdsTaskLogBroker,
  TaskLog,
  TaskLogFilter,
  TaskStatus,
  Worker,
  silentLogger,
  type TaskLogBroker,
} from '../src';
import { useMysqlDatabase } from './helpers/mysql';
import { usePostgresDatabase } from './helpers/postgres';
import { TEST_CREDENTIALS, sqsBroker, sqsEndpoint, uniquePrefix } from './helpers/sqs';
import { RecordRun, runs } from './helpers/tasks';

const dir = mkdtempSync(join(tmpdir(), 'taskq-trx-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface Database {
  connection: string;
  /** The application's own knex, as it would have it. */
  appKnex(): Knex;
}

const databases: [string, Database][] = [
  ['SQLite', { connection: `sqlite:${join(dir, 'app.db')}`, appKnex: () => knex({ client: 'better-sqlite3', connection: { filename: join(dir, 'app.db') }, useNullAsDefault: true }) }],
];
const pg = usePostgresDatabase('transactional enqueue');
if (pg) databases.push(['PostgreSQL', { connection: pg, appKnex: () => knex({ client: 'pg', connection: pg }) }]);
const mysql = useMysqlDatabase('transactional enqueue');
if (mysql) databases.push(['MariaDB', { connection: mysql, appKnex: () => knex({ client: 'mysql2', connection: mysql }) }]);

let n = 0;

describe.each(databases)('%s', (_name, database) => {
  let app: Knex;
  beforeAll(async () => {
    app = database.appKnex();
    if (!(await app.schema.hasTable('orders'))) await app.schema.createTable('orders', (t) => t.string('id', 64).primary());
  });
  afterAll(() => app.destroy());

  function dispatcherOf(logBroker?: TaskLogBroker) {
    const suffix = ++n;
    const queueBroker = new RdsQueueBroker({ connection: database.connection, table: `trx_messages_${suffix}` });
    const taskLog = new TaskLog(logBroker ?? new RdsTaskLogBroker({ connection: database.connection, table: `trx_log_${suffix}` }));
    return { queueBroker, dispatcher: new QueueDispatcher({ queues: [new Queue('q', queueBroker)], taskLog, tasks: [RecordRun], logger: silentLogger }) };
  }

  test('committed: the order and the task exist together, and a worker runs the task', async () => {
    const { dispatcher, queueBroker } = dispatcherOf();
    try {
      await dispatcher.initialize();
      const task = await app.transaction(async (trx) => {
        await trx('orders').insert({ id: `order-${n}` });
        return dispatcher.enqueue(new RecordRun({ n: 1 }), { transaction: trx });
      });
      expect(await dispatcher.taskLog.getStatus(task.id)).toBe(TaskStatus.Enqueued);
      expect(await queueBroker.count('q')).toBe(1);
      runs.clear();
      expect((await new Worker(dispatcher, { limit: 1, logger: silentLogger }).run()).completed).toBe(1);
      expect(runs.get(task.id)).toBe(1);
    } finally {
      await dispatcher.close();
    }
  });

  test('rolled back: neither the order nor the task (entry or message) exists', async () => {
    const { dispatcher, queueBroker } = dispatcherOf();
    try {
      await dispatcher.initialize();
      let taskId = '';
      await expect(
        app.transaction(async (trx) => {
          await trx('orders').insert({ id: `order-${n}` });
          taskId = (await dispatcher.enqueueMany([new RecordRun({ n: 1 }), new RecordRun({ n: 2 })], { transaction: trx }))[0].id;
          throw new Error('the payment failed');
        }),
      ).rejects.toThrow('the payment failed');
      expect(taskId).not.toBe('');
      expect(await dispatcher.taskLog.get(taskId)).toBeNull();
      expect(await queueBroker.count('q')).toBe(0);
      expect(await app('orders').where({ id: `order-${n}` }).first()).toBeUndefined();
    } finally {
      await dispatcher.close();
    }
  });

  test('with the task log elsewhere, the message is in the transaction and the worker writes the entry', async () => {
    const { dispatcher, queueBroker } = dispatcherOf(new InMemoryTaskLogBroker());
    try {
      await dispatcher.initialize();
      const task = await app.transaction((trx) => dispatcher.enqueue(new RecordRun({ n: 1 }), { transaction: trx }));
      expect(await dispatcher.taskLog.get(task.id)).toBeNull();
      expect(await queueBroker.count('q')).toBe(1);
      runs.clear();
      expect((await new Worker(dispatcher, { limit: 1, logger: silentLogger }).run()).completed).toBe(1);
      expect(runs.get(task.id)).toBe(1);
      expect(await dispatcher.taskLog.get(task.id)).toMatchObject({ status: TaskStatus.Completed, taskName: 'RecordRun', queue: 'q' });
    } finally {
      await dispatcher.close();
    }
  });

  if (!database.connection.startsWith('sqlite')) {
    test('before the commit, no other connection sees the task: a worker gets nothing', async () => {
      const { dispatcher, queueBroker } = dispatcherOf();
      try {
        await dispatcher.initialize();
        const trx = await app.transaction();
        const task = await dispatcher.enqueue(new RecordRun({ n: 1 }), { transaction: trx });
        expect(await queueBroker.count('q')).toBe(0);
        expect(await dispatcher.taskLog.get(task.id)).toBeNull();
        expect(await queueBroker.receive('q', 10, 1_000)).toEqual([]);
        await trx.commit();
        expect(await queueBroker.count('q')).toBe(1);
      } finally {
        await dispatcher.close();
      }
    });
  }
});

if (pg) {
  const url = pg;
  test('PostgreSQL: a pg client inside BEGIN works as the transaction, COMMIT and ROLLBACK alike', async () => {
    const queueBroker = new RdsQueueBroker({ connection: url, table: `trx_messages_client` });
    const dispatcher = new QueueDispatcher({ queues: [new Queue('q', queueBroker)], taskLog: new TaskLog(new RdsTaskLogBroker({ connection: url, table: 'trx_log_client' })), tasks: [RecordRun], logger: silentLogger });
    const client = new Client({ connectionString: url });
    await client.connect();
    try {
      await dispatcher.initialize();
      await client.query('BEGIN');
      const kept = await dispatcher.enqueue(new RecordRun({ n: 1 }), { transaction: client });
      await client.query('COMMIT');
      await client.query('BEGIN');
      const dropped = await dispatcher.enqueue(new RecordRun({ n: 2 }), { transaction: client });
      await client.query('ROLLBACK');
      expect(await dispatcher.taskLog.getStatus(kept.id)).toBe(TaskStatus.Enqueued);
      expect(await dispatcher.taskLog.get(dropped.id)).toBeNull();
      expect(await queueBroker.count('q')).toBe(1);
    } finally {
      await client.end();
      await dispatcher.close();
    }
  });
}

test('refused, before anything is written, on a queue that cannot take part in a transaction, or with something that is not one', async () => {
  const log = new InMemoryTaskLogBroker();
  const dispatcher = new QueueDispatcher({
    queues: [new Queue('sync', new InMemoryQueueBroker()), new Queue('async', new InMemoryQueueBroker({ sync: false })), new Queue('sql', new RdsQueueBroker({ connection: 'sqlite::memory:' }))],
    taskLog: new TaskLog(log),
    tasks: [RecordRun],
    logger: silentLogger,
  });
  const sqliteApp = knex({ client: 'better-sqlite3', connection: { filename: ':memory:' }, useNullAsDefault: true });
  try {
    await dispatcher.initialize();
    await sqliteApp.transaction(async (trx) => {
      await expect(dispatcher.enqueue(new RecordRun({ n: 1 }), { queue: 'sync', transaction: trx })).rejects.toThrow(/transaction needs a queue on the rds broker \(SQL\): queue "sync" is on the sync in-memory broker/);
      await expect(dispatcher.enqueue(new RecordRun({ n: 1 }), { queue: 'async', transaction: trx })).rejects.toThrow(/queue "async" is on the memory broker/);
      await expect(dispatcher.enqueueMany([new RecordRun({ n: 1 })], { queue: 'async', transaction: trx })).rejects.toBeInstanceOf(ConfigError);
    });
    // What a knex transaction on PostgreSQL looks like to the check (no server needed for that).
    const fakePgTransaction = Object.assign(() => undefined, { raw: () => undefined, isTransaction: true, client: { config: { client: 'pg' } } });
    await expect(dispatcher.enqueue(new RecordRun({ n: 1 }), { queue: 'sql', transaction: fakePgTransaction as unknown as Knex.Transaction })).rejects.toThrow(/a knex transaction on pg, but queue "sql" is on sqlite/);
    await expect(dispatcher.enqueue(new RecordRun({ n: 1 }), { queue: 'sql', transaction: { query: async () => undefined } })).rejects.toThrow(/for PostgreSQL \(pg\) only; queue "sql" is on sqlite/);
    await expect(dispatcher.enqueue(new RecordRun({ n: 1 }), { queue: 'sql', transaction: 'BEGIN' as unknown as Knex.Transaction })).rejects.toThrow(/enqueue option transaction must be a knex transaction or a pg client/);
    expect(await log.count(new TaskLogFilter())).toBe(0);
  } finally {
    await sqliteApp.destroy();
    await dispatcher.close();
  }
});

test('refused on a queue on the SQS broker, naming the queue and the broker, before any SQS call: nothing is enqueued', async () => {
  // A client of the test's own records every command the broker sends.
  const client = new SQSClient({ endpoint: sqsEndpoint(), region: 'us-east-1', credentials: TEST_CREDENTIALS });
  const commands: string[] = [];
  client.middlewareStack.add(
    (next, context) => async (args) => {
      commands.push(context.commandName ?? '?');
      return next(args);
    },
    { step: 'initialize', name: 'taskqTestRecorder' },
  );
  const broker = sqsBroker({ queuePrefix: uniquePrefix(), client, waitTimeSeconds: 0 });
  const log = new InMemoryTaskLogBroker();
  const dispatcher = new QueueDispatcher({ queues: [new Queue('jobs', broker)], taskLog: new TaskLog(log), tasks: [RecordRun], logger: silentLogger });
  const sqliteApp = knex({ client: 'better-sqlite3', connection: { filename: ':memory:' }, useNullAsDefault: true });
  try {
    await dispatcher.initialize();
    commands.length = 0;
    await sqliteApp.transaction(async (trx) => {
      const refused = /enqueue option transaction needs a queue on the rds broker \(SQL\): queue "jobs" is on the sqs broker, which cannot write inside your transaction/;
      await expect(dispatcher.enqueue(new RecordRun({ n: 1 }), { transaction: trx })).rejects.toThrow(refused);
      await expect(dispatcher.enqueue(new RecordRun({ n: 2 }), { queue: 'jobs', transaction: trx })).rejects.toBeInstanceOf(ConfigError);
      await expect(dispatcher.enqueueMany([new RecordRun({ n: 3 }), new RecordRun({ n: 4 })], { transaction: trx })).rejects.toThrow(refused);
    });
    expect(commands).toEqual([]);
    expect(await log.count(new TaskLogFilter())).toBe(0);
    expect(await broker.count('jobs')).toBe(0);
    expect(await broker.receive('jobs', 10, 1_000)).toEqual([]);
  } finally {
    await broker.dropContainer('jobs').catch(() => undefined);
    await sqliteApp.destroy();
    await dispatcher.close();
    client.destroy();
  }
});
