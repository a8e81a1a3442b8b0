/**
 * RdsQueueBroker's batched writes, counted at the SQL executor on SQLite, PostgreSQL and MariaDB:
 * acknowledgements made in one turn are one DELETE per queue (at most 200 receipts each), and
 * each still removes only its own delivery; dispatcher.enqueueMany with the task log on the same
 * database is one statement on PostgreSQL, and elsewhere chunked multi-row INSERTs in one
 * transaction.
 */
import { DuplicateTaskIdError, Queue, QueueDispatcher, RdsQueueBroker, RdsTaskLogBroker, TaskLog, TaskLogFilter, TaskStatus, silentLogger, type NewTaskLogEntry, type ReceivedMessage } from '../../src';
import { sqlDatabases } from '../helpers/sqlDatabases';
import { RecordRun } from '../helpers/tasks';

const databases = sqlDatabases('queue-batching');

const HOUR = 3_600_000;
/** Receipts per DELETE: the acknowledgements' CallBatcher limit (ID_CHUNK in rdsQueueBroker.ts). */
const ACK_BATCH = 200;
/** Rows per INSERT on SQLite and MariaDB: messages (INSERT_CHUNK in rdsQueueBroker.ts) and log entries (in rdsTaskLogBroker.ts). */
const MESSAGE_CHUNK = 500;
const LOG_CHUNK = 300;

let n = 0;
const message = (taskId: string) => ({ taskId, body: JSON.stringify({ id: taskId }) });
const entry = (id: string): NewTaskLogEntry => ({ id, parentId: null, taskName: 'RecordRun', label: '', owner: null, queue: 'q', parameters: null, createdAt: new Date(), status: TaskStatus.Enqueued });

interface Call {
  method: 'all' | 'run' | 'batch';
  /** The statement's SQL; a batch's, one per statement, in order. */
  sql: string[];
}

/**
 * Records every call on the brokers' shared executor (the queue broker and a task log broker on
 * one connection share it): all and run with their statement, batch (one transaction) with its
 * statements. Counting below the brokers sees what the database is sent, whatever the path.
 */
function recordCalls(log: RdsTaskLogBroker): Call[] {
  const exec = log.database.exec as unknown as Record<Call['method'], (...args: unknown[]) => Promise<unknown>>;
  const calls: Call[] = [];
  for (const method of ['all', 'run', 'batch'] as const) {
    const original = exec[method].bind(exec);
    exec[method] = (...args) => {
      calls.push({ method, sql: method === 'batch' ? (args[0] as { sql: string }[]).map((s) => s.sql) : [args[0] as string] });
      return original(...args);
    };
  }
  return calls;
}

const statementsOf = (calls: readonly Call[]) => calls.flatMap((c) => c.sql);
const deletesOf = (calls: readonly Call[]) => statementsOf(calls).filter((sql) => /^\s*DELETE\b/i.test(sql));

describe.each(databases)('%s', (name, connection) => {
  let queue: RdsQueueBroker;
  let log: RdsTaskLogBroker;
  let messagesTable: string;
  let logTable: string;
  beforeEach(async () => {
    n++;
    messagesTable = `qb_messages_${n}`;
    logTable = `qb_log_${n}`;
    queue = new RdsQueueBroker({ connection, table: messagesTable });
    // On the same connection: its executor is the queue broker's too (see recordCalls).
    log = new RdsTaskLogBroker({ connection, table: logTable });
    await log.createContainer();
    await queue.createContainer('q');
  });
  afterEach(async () => {
    await queue.close();
    await log.close();
  });

  /** Pushes `count` messages to `queueName` and receives them all (leased for an hour). */
  async function received(queueName: string, count: number, prefix = queueName): Promise<ReceivedMessage[]> {
    await queue.pushMany(queueName, Array.from({ length: count }, (_, i) => message(`${prefix}${i}`)));
    const got = await queue.receive(queueName, count, HOUR);
    expect(got).toHaveLength(count);
    return got;
  }

  describe('acknowledge', () => {
    test('ten acknowledgements in one turn are one DELETE, and the queue is empty after', async () => {
      const messages = await received('q', 10);
      const calls = recordCalls(log);
      await Promise.all(messages.map((m) => queue.acknowledge('q', m)));
      expect(deletesOf(calls)).toHaveLength(1);
      // Nothing else was sent for them.
      expect(calls).toEqual([{ method: 'run', sql: [expect.stringMatching(/^DELETE FROM/)] }]);
      expect(await queue.count('q')).toBe(0);
    });

    test(`450 acknowledgements in one turn: one DELETE per ${ACK_BATCH} (the batch limit), 3 in all; every message removed`, async () => {
      const messages = await received('q', 450);
      const calls = recordCalls(log);
      await Promise.all(messages.map((m) => queue.acknowledge('q', m)));
      expect(deletesOf(calls)).toHaveLength(Math.ceil(450 / ACK_BATCH));
      expect(statementsOf(calls)).toHaveLength(3);
      expect(await queue.count('q')).toBe(0);
    });

    test('acknowledgements of two queues in one turn: one DELETE per queue, each removing only its own messages', async () => {
      await queue.pushMany('q', ['q0', 'q1', 'q2', 'q3'].map(message));
      await queue.pushMany('r', ['r0', 'r1', 'r2', 'r3'].map(message));
      // Three of each queue's four: the fourth stays queued.
      const fromQ = await queue.receive('q', 3, HOUR);
      const fromR = await queue.receive('r', 3, HOUR);
      expect([fromQ.length, fromR.length]).toEqual([3, 3]);
      const calls = recordCalls(log);
      await Promise.all([...fromQ.map((m) => queue.acknowledge('q', m)), ...fromR.map((m) => queue.acknowledge('r', m))]);
      expect(deletesOf(calls)).toHaveLength(2);
      expect([await queue.count('q'), await queue.count('r')]).toEqual([1, 1]);
      expect([...(await queue.holdsTasks('q', ['q0', 'q1', 'q2', 'q3']))]).toEqual(['q3']);
      expect([...(await queue.holdsTasks('r', ['r0', 'r1', 'r2', 'r3']))]).toEqual(['r3']);
    });

    test('acknowledgements made in separate turns all apply: one DELETE each, awaited one by one or in flight together', async () => {
      const messages = await received('q', 6);
      const calls = recordCalls(log);
      // One by one: each awaited before the next is made.
      for (const [i, m] of messages.slice(0, 3).entries()) {
        await queue.acknowledge('q', m);
        expect(await queue.count('q')).toBe(5 - i);
      }
      expect(deletesOf(calls)).toHaveLength(3);
      // In flight together, but each made in a turn of its own.
      const pending: Promise<void>[] = [];
      for (const m of messages.slice(3)) {
        pending.push(queue.acknowledge('q', m));
        await new Promise((resolve) => setImmediate(resolve));
      }
      await Promise.all(pending);
      expect(deletesOf(calls)).toHaveLength(6);
      expect(await queue.count('q')).toBe(0);
    });

    test("a stale delivery's receipt in a batch leaves the newer delivery's message; the rest of the batch applies", async () => {
      const [a, b, c] = await received('q', 3, 'm');
      // a comes back (released) and is delivered again: its first receipt is stale.
      await queue.release('q', a, 0);
      const [again] = await queue.receive('q', 10, HOUR);
      expect(again).toMatchObject({ taskId: 'm0', receiveCount: 2 });
      const calls = recordCalls(log);
      await Promise.all([a, b, c].map((m) => queue.acknowledge('q', m)));
      expect(deletesOf(calls)).toHaveLength(1);
      expect([...(await queue.holdsTasks('q', ['m0', 'm1', 'm2']))]).toEqual(['m0']);
      expect(await queue.countLeased('q')).toBe(1);
      await queue.acknowledge('q', again);
      expect(await queue.count('q')).toBe(0);
    });
  });

  describe('dispatcher.enqueueMany with the task log on the same database', () => {
    const TASKS = 1_000;
    const dispatcherOf = () => new QueueDispatcher({ queues: [new Queue('q', queue)], taskLog: new TaskLog(log), tasks: [RecordRun], logger: silentLogger });

    const title =
      name === 'PostgreSQL'
        ? `${TASKS} tasks are one statement: the log entries and the messages inserted in one WITH`
        : `${TASKS} tasks are ${Math.ceil(TASKS / LOG_CHUNK)} log INSERTs (${LOG_CHUNK} rows each) and ${Math.ceil(TASKS / MESSAGE_CHUNK)} message INSERTs (${MESSAGE_CHUNK} rows each), in one transaction`;
    test(`${title}; every task is there after`, async () => {
      const dispatcher = dispatcherOf();
      try {
        await dispatcher.initialize();
        const tasks = Array.from({ length: TASKS }, (_, i) => new RecordRun({ n: i }));
        const calls = recordCalls(log);
        await dispatcher.enqueueMany(tasks);
        const logInsert = new RegExp(`INSERT INTO [\`"]${logTable}[\`"]`);
        const messageInsert = new RegExp(`INSERT INTO [\`"]${messagesTable}[\`"]`);
        if (name === 'PostgreSQL') {
          expect(calls).toHaveLength(1);
          expect(calls[0].method).toBe('run');
          const [sql] = calls[0].sql;
          expect(sql).toMatch(/^WITH log_entries AS \(INSERT INTO/);
          expect(sql).toMatch(logInsert);
          expect(sql).toMatch(messageInsert);
        } else {
          // One batch (one transaction), nothing outside it: the log's chunks, then the messages'.
          expect(calls.map((c) => c.method)).toEqual(['batch']);
          const expected = [...Array<RegExp>(Math.ceil(TASKS / LOG_CHUNK)).fill(logInsert), ...Array<RegExp>(Math.ceil(TASKS / MESSAGE_CHUNK)).fill(messageInsert)];
          expect(calls[0].sql).toHaveLength(expected.length);
          calls[0].sql.forEach((sql, i) => expect(sql).toMatch(expected[i]));
        }
        expect(await queue.count('q')).toBe(TASKS);
        const ids = tasks.map((t) => t.id);
        expect((await queue.holdsTasks('q', ids)).size).toBe(TASKS);
        expect(await log.countByStatus(new TaskLogFilter())).toEqual({ [TaskStatus.Enqueued]: TASKS });
        expect(await log.get(ids[TASKS - 1])).toMatchObject({ taskName: 'RecordRun', queue: 'q', parameters: { n: TASKS - 1 } });
      } finally {
        await dispatcher.close();
      }
    });

    test(`a taken id near the end of ${TASKS} tasks (in the last log INSERT): refused, naming it, and nothing of the enqueue is written`, async () => {
      const dispatcher = dispatcherOf();
      try {
        await dispatcher.initialize();
        await log.add([entry('taken-1')]);
        const tasks = Array.from({ length: TASKS }, (_, i) => new RecordRun({ n: i }, i === 950 ? { id: 'taken-1' } : {}));
        const error = await dispatcher.enqueueMany(tasks).catch((e: unknown) => e);
        expect(error).toBeInstanceOf(DuplicateTaskIdError);
        expect(error).toMatchObject({ taskIds: ['taken-1'] });
        // The log's first chunks (rows 0 to 899) and the messages were rolled back with it.
        expect(await log.count(new TaskLogFilter())).toBe(1);
        expect(await log.get(tasks[0].id)).toBeNull();
        expect(await queue.count('q')).toBe(0);
      } finally {
        await dispatcher.close();
      }
    });
  });
});
