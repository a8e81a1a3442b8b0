/**
 * An enqueue writes two things: a task-log entry and a queue message. These tests break a real
 * enqueue between or during those writes — by SIGKILLing the producer process, or by making the
 * message INSERT fail — and check what is left behind:
 *
 * 1. Queue and log on two databases (two writes, the message first): a producer killed between
 *    the writes leaves a message without a log entry; a worker records the entry and runs the
 *    task exactly once. (Log first would leave an entry `enqueued` forever, with no message.)
 * 2. Queue and log on one database (one transaction): a failing message INSERT rolls back the
 *    log entry written just before it; nothing is left, and a later enqueue writes both.
 * 3. Same, PostgreSQL: a producer killed inside the transaction leaves neither half.
 *
 * SQLite always; PostgreSQL when TASKQ_TEST_PG_URL is set. The producers are child Node processes
 * running a script that requires the built package (dist/): run `npm run build` first.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { appendFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import Database from 'better-sqlite3';
import { Client } from 'pg';
import { AbstractTask, Queue, QueueDispatcher, RdsQueueBroker, RdsTaskLogBroker, TaskLog, Worker, silentLogger, type TaskContext } from '../src';
import { usePostgresDatabase } from './helpers/postgres';
import { until } from './helpers/wait';

const BUILT_PACKAGE = resolve(__dirname, '../dist/src/index.js');
const QUEUE = 'crash';
/** The application_name of the producer's PostgreSQL connections: how its backends are found. */
const PRODUCER_APP = 'taskq_enqueue_crash_producer';

/** Appends its task id to a file: the file shows how many times the task ran. */
class AppendLine extends AbstractTask<{ file: string }> {
  static override taskName = 'AppendLine';
  run(ctx: TaskContext) {
    appendFileSync(this.getParameter('file'), `${ctx.taskId}\n`);
  }
}

/** The producer process: an application enqueueing one AppendLine (the same task as above). */
const PRODUCER_JS = `
const { appendFileSync } = require('node:fs');
const { AbstractTask, Queue, QueueDispatcher, RdsQueueBroker, RdsTaskLogBroker, TaskLog, silentLogger } = require(${JSON.stringify(BUILT_PACKAGE)});

class AppendLine extends AbstractTask {
  static taskName = 'AppendLine';
  run(ctx) { appendFileSync(this.getParameter('file'), ctx.taskId + '\\n'); }
}

/** After the real write has finished, the process dies as a crash (power cut, OOM kill) would. */
function dieAfter(broker, method) {
  const write = broker[method].bind(broker);
  broker[method] = async (...args) => {
    await write(...args);
    process.kill(process.pid, 'SIGKILL');
  };
}

(async () => {
  const config = JSON.parse(process.argv[2]);
  const queueBroker = new RdsQueueBroker(config.queue);
  const logBroker = new RdsTaskLogBroker(config.log);
  if (config.dieAfterFirstWrite) {
    // Whichever of the two writes the dispatcher makes first.
    dieAfter(queueBroker, 'pushMany');
    dieAfter(logBroker, 'add');
    dieAfter(logBroker, 'addIfMissing');
  }
  const dispatcher = new QueueDispatcher({ queues: [new Queue(${JSON.stringify(QUEUE)}, queueBroker)], taskLog: new TaskLog(logBroker), tasks: [AppendLine], logger: silentLogger });
  console.log('enqueueing ' + config.taskId);
  await dispatcher.enqueue(new AppendLine({ file: config.runsFile }, { id: config.taskId }));
  console.log('enqueue resolved');
  await dispatcher.close();
})().catch((error) => {
  console.error(error);
  process.exit(1);
});
`;

interface Storage {
  connection: string;
  table: string;
}

interface ProducerConfig {
  queue: Storage;
  log: Storage;
  taskId: string;
  runsFile: string;
  /** SIGKILL the producer as soon as the first of the enqueue's two writes is done. */
  dieAfterFirstWrite: boolean;
}

interface Producer {
  child: ChildProcess;
  output(): string;
  /** Resolves when the process has exited and its output is read. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

const pgUrl = usePostgresDatabase('enqueue crash');
const workDir = mkdtempSync(join(tmpdir(), 'taskq-enqueue-crash-'));
const producerScript = join(workDir, 'producer.js');
writeFileSync(producerScript, PRODUCER_JS);
const sqlite = (file: string) => `sqlite:${join(workDir, file)}`;

const producers = new Set<ChildProcess>();
const dispatchers: QueueDispatcher[] = [];

afterEach(async () => {
  for (const child of producers) child.kill('SIGKILL');
  if (pgUrl) await terminateProducerBackends(pgUrl);
  await Promise.all(dispatchers.splice(0).map((d) => d.close()));
});

afterAll(() => rmSync(workDir, { recursive: true, force: true }));

function startProducer(config: ProducerConfig): Producer {
  const child = spawn(process.execPath, [producerScript, JSON.stringify(config)], { stdio: ['ignore', 'pipe', 'pipe'] });
  producers.add(child);
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolveExit) =>
    child.on('close', (code, signal) => {
      producers.delete(child);
      resolveExit({ code, signal });
    }),
  );
  return { child, output: () => output, exited };
}

let tableSeq = 0;

/** Table names of their own for each test: tests sharing a database never see each other's rows. */
function tableNames(what: string): { messages: string; log: string } {
  const suffix = `${what}_${++tableSeq}`;
  return { messages: `messages_${suffix}`, log: `task_log_${suffix}` };
}

/** This process's view of the storage: a dispatcher (closed after the test) and its brokers. */
async function openDispatcher(queue: Storage, log: Storage) {
  const queueBroker = new RdsQueueBroker(queue);
  const taskLog = new TaskLog(new RdsTaskLogBroker(log));
  const dispatcher = new QueueDispatcher({ queues: [new Queue(QUEUE, queueBroker)], taskLog, tasks: [AppendLine], logger: silentLogger });
  dispatchers.push(dispatcher);
  await dispatcher.initialize();
  return { dispatcher, queueBroker, taskLog };
}

/** Runs SQL on the database behind an RDS connection string, on a connection of its own. */
async function execSql(connection: string, sql: string): Promise<void> {
  if (connection.startsWith('sqlite:')) {
    const db = new Database(connection.slice('sqlite:'.length));
    try {
      db.exec(sql);
    } finally {
      db.close();
    }
    return;
  }
  await withPg(connection, (client) => client.query(sql));
}

async function withPg<T>(url: string, use: (client: Client) => Promise<T>): Promise<T> {
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    return await use(client);
  } finally {
    await client.end();
  }
}

/**
 * Ends the producer's PostgreSQL backends and waits until they are gone: a backend whose client
 * was killed mid-transaction would otherwise sleep on in it, holding its locks.
 */
async function terminateProducerBackends(url: string): Promise<void> {
  await withPg(url, async (client) => {
    const producerBackends = `FROM pg_stat_activity WHERE datname = current_database() AND application_name = $1 AND pid <> pg_backend_pid()`;
    await client.query(`SELECT pg_terminate_backend(pid) ${producerBackends}`, [PRODUCER_APP]);
    await until(async () => (await client.query(`SELECT 1 ${producerBackends}`, [PRODUCER_APP])).rowCount === 0, 5_000, 'the producer backends to end');
  });
}

/**
 * PostgreSQL's atomic enqueue is one statement (the log INSERT in a WITH): the message's trigger
 * cannot see the entry (the statement's parts share one snapshot), but sees the statement.
 */
function inSameStatement(tables: { log: string }): string {
  return `'WITH log_entries AS (INSERT INTO "${tables.log}" %'`;
}

/**
 * A trigger that makes every message INSERT fail. Its message says whether the task's log entry
 * was already written in the same transaction (or, on PostgreSQL, is written by the same
 * statement), which only the atomic enqueue does.
 */
function failMessageInserts(connection: string, tables: { messages: string; log: string }): string {
  const written = `'injected fault (the log entry was written first)'`;
  const notWritten = `'injected fault (no log entry)'`;
  if (connection.startsWith('sqlite:')) {
    return `CREATE TRIGGER fail_message_insert BEFORE INSERT ON "${tables.messages}" BEGIN
      SELECT RAISE(ABORT, ${written}) WHERE EXISTS (SELECT 1 FROM "${tables.log}" WHERE id = NEW.task_id);
      SELECT RAISE(ABORT, ${notWritten});
    END;`;
  }
  return `CREATE FUNCTION fail_message_insert() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN
      IF EXISTS (SELECT 1 FROM "${tables.log}" WHERE id = NEW.task_id) OR current_query() LIKE ${inSameStatement(tables)} THEN RAISE EXCEPTION ${written}; END IF;
      RAISE EXCEPTION ${notWritten};
    END $$;
    CREATE TRIGGER fail_message_insert BEFORE INSERT ON "${tables.messages}" FOR EACH ROW EXECUTE FUNCTION fail_message_insert();`;
}

function dropFailMessageInserts(connection: string, tables: { messages: string }): string {
  return connection.startsWith('sqlite:')
    ? 'DROP TRIGGER fail_message_insert;'
    : `DROP TRIGGER fail_message_insert ON "${tables.messages}"; DROP FUNCTION fail_message_insert();`;
}

describe('queue and task log on two databases: the message is written first, then the log entry', () => {
  const queueDatabases: [string, string][] = [['SQLite', sqlite('queue.db')]];
  if (pgUrl) queueDatabases.push(['PostgreSQL', pgUrl]);

  test.each(queueDatabases)(
    'producer killed between the writes (queue on %s, log on another SQLite file): the message waits without an entry; a worker records the entry and runs the task once',
    async (_database, queueConnection) => {
      const tables = tableNames('split');
      const queue = { connection: queueConnection, table: tables.messages };
      const log = { connection: sqlite('log.db'), table: tables.log };
      const { dispatcher, queueBroker, taskLog } = await openDispatcher(queue, log);
      const taskId = randomUUID();
      const runsFile = join(workDir, `runs-${taskId}.txt`);

      const producer = startProducer({ queue, log, taskId, runsFile, dieAfterFirstWrite: true });
      expect(await producer.exited).toEqual({ code: null, signal: 'SIGKILL' });
      expect(producer.output()).toBe(`enqueueing ${taskId}\n`);

      // What the crash left: the message, and no log entry.
      expect(await queueBroker.count(QUEUE)).toBe(1);
      expect(await queueBroker.holdsTasks(QUEUE, [taskId])).toEqual(new Set([taskId]));
      expect(await taskLog.get(taskId)).toBeNull();

      const stats = await new Worker(dispatcher, { limit: 1, leaseMs: 5_000, logger: silentLogger }).run();
      expect(stats).toMatchObject({ processed: 1, completed: 1, failed: 0 });
      expect(await taskLog.get(taskId)).toMatchObject({ status: 'completed', attempts: 1, taskName: 'AppendLine', queue: QUEUE });
      expect(readFileSync(runsFile, 'utf8')).toBe(`${taskId}\n`);
      expect(await queueBroker.count(QUEUE)).toBe(0);
    },
  );
});

describe('queue and task log on one database: both are written in one transaction', () => {
  const databases: [string, string][] = [['SQLite', sqlite('shared.db')]];
  if (pgUrl) databases.push(['PostgreSQL', pgUrl]);

  test.each(databases)(
    '%s: the message INSERT fails: enqueue rejects, the log entry written before it is rolled back; once fixed, an enqueue writes both',
    async (_database, connection) => {
      const tables = tableNames('atomic');
      const { dispatcher, queueBroker, taskLog } = await openDispatcher({ connection, table: tables.messages }, { connection, table: tables.log });
      const runsFile = join(workDir, 'runs-atomic.txt');

      await execSql(connection, failMessageInserts(connection, tables));
      const doomed = new AppendLine({ file: runsFile });
      // Matched by message: better-sqlite3 makes its errors in the realm of the first test file
      // that loaded it in this jest worker, so they are not this file's Error instances.
      await expect(dispatcher.enqueue(doomed)).rejects.toMatchObject({ message: expect.stringContaining('injected fault (the log entry was written first)') });
      expect(await taskLog.get(doomed.id)).toBeNull();
      expect(await queueBroker.count(QUEUE)).toBe(0);

      await execSql(connection, dropFailMessageInserts(connection, tables));
      const task = await dispatcher.enqueue(new AppendLine({ file: runsFile }));
      expect(await taskLog.get(task.id)).toMatchObject({ status: 'enqueued', queue: QUEUE });
      expect(await queueBroker.holdsTasks(QUEUE, [task.id])).toEqual(new Set([task.id]));
      expect(await queueBroker.count(QUEUE)).toBe(1);
      expect(existsSync(runsFile)).toBe(false);
    },
  );

  if (pgUrl) {
    test('PostgreSQL: producer killed inside the transaction (its message INSERT stalled by a trigger): neither the entry nor the message survives', async () => {
      const tables = tableNames('killed');
      const { queueBroker, taskLog } = await openDispatcher({ connection: pgUrl, table: tables.messages }, { connection: pgUrl, table: tables.log });
      // The message INSERT stalls, but only after the log entry was written in its transaction:
      // without it, the INSERT fails at once and the producer never stalls.
      await execSql(
        pgUrl,
        `CREATE FUNCTION stall_message_insert() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN
           IF NOT EXISTS (SELECT 1 FROM "${tables.log}" WHERE id = NEW.task_id) AND current_query() NOT LIKE ${inSameStatement(tables)} THEN RAISE EXCEPTION 'no log entry before the message'; END IF;
           PERFORM pg_sleep(30);
           RETURN NEW;
         END $$;
         CREATE TRIGGER stall_message_insert BEFORE INSERT ON "${tables.messages}" FOR EACH ROW EXECUTE FUNCTION stall_message_insert();`,
      );
      // The same connection string for queue and log: the producer's enqueue is one transaction.
      const url = new URL(pgUrl);
      url.searchParams.set('application_name', PRODUCER_APP);
      const producerDb = url.toString();
      const taskId = randomUUID();
      const producer = startProducer({
        queue: { connection: producerDb, table: tables.messages },
        log: { connection: producerDb, table: tables.log },
        taskId,
        runsFile: join(workDir, `runs-${taskId}.txt`),
        dieAfterFirstWrite: false,
      });

      // The producer's backend, asleep in the trigger of its message INSERT.
      let stalledQuery: string | undefined;
      await withPg(pgUrl, (client) =>
        until(
          async () => {
            if (producer.child.exitCode !== null) throw new Error(`the producer exited instead of stalling:\n${producer.output()}`);
            const { rows } = await client.query<{ query: string }>(
              `SELECT query FROM pg_stat_activity WHERE datname = current_database() AND application_name = $1 AND wait_event = 'PgSleep'`,
              [PRODUCER_APP],
            );
            stalledQuery = rows[0]?.query;
            return stalledQuery !== undefined;
          },
          10_000,
          "the producer's message INSERT to stall",
        ),
      );
      expect(stalledQuery).toContain(`INSERT INTO "${tables.messages}"`);

      producer.child.kill('SIGKILL');
      expect(await producer.exited).toEqual({ code: null, signal: 'SIGKILL' });
      expect(producer.output()).toBe(`enqueueing ${taskId}\n`);
      // The killed client's backend would sleep on; ended, it rolls the transaction back.
      await terminateProducerBackends(pgUrl);
      await execSql(pgUrl, `DROP TRIGGER stall_message_insert ON "${tables.messages}"; DROP FUNCTION stall_message_insert();`);

      expect(await taskLog.get(taskId)).toBeNull();
      expect(await queueBroker.count(QUEUE)).toBe(0);
    });
  }
});
