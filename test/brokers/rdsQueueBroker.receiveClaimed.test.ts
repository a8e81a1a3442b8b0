/**
 * RdsQueueBroker.receive with `claimFor` (a worker claiming ahead): on PostgreSQL the messages are
 * leased and their tasks claimed in the task log in one statement, each message with its own
 * task's outcome, under the same rules as TaskLogBroker.claim; two workers doing it at once never
 * claim a task twice. SQLite and MariaDB (no data-modifying WITH) ignore it: the worker claims
 * in a statement of its own.
 */
import { RdsQueueBroker, RdsTaskLogBroker, TaskStatus, type NewTaskLogEntry, type ReceivedMessage } from '../../src';
import { sqlDatabases } from '../helpers/sqlDatabases';

const databases = sqlDatabases('receive-claimed');

const HOUR = 3_600_000;
let n = 0;
const entry = (id: string): NewTaskLogEntry => ({ id, parentId: null, taskName: 'T', label: '', owner: null, queue: 'q', parameters: null, createdAt: new Date(), status: TaskStatus.Enqueued });
const message = (taskId: string) => ({ taskId, body: JSON.stringify({ id: taskId }) });

/** Counts the statements sent on the brokers' shared connection, whatever the executor method. */
function countStatements(broker: RdsTaskLogBroker): { readonly statements: number } {
  const exec = broker.database.exec as unknown as Record<'all' | 'run', (sql: string, bindings?: unknown[]) => Promise<unknown>>;
  const counter = { statements: 0 };
  for (const method of ['all', 'run'] as const) {
    const original = exec[method].bind(exec);
    exec[method] = (sql, bindings) => {
      counter.statements++;
      return original(sql, bindings);
    };
  }
  return counter;
}

describe.each(databases)('%s', (name, connection) => {
  const claims = name === 'PostgreSQL';
  let queue: RdsQueueBroker;
  let log: RdsTaskLogBroker;
  beforeEach(async () => {
    n++;
    queue = new RdsQueueBroker({ connection, table: `rc_messages_${n}`, receive: 50 });
    log = new RdsTaskLogBroker({ connection, table: `rc_log_${n}` });
    await log.createContainer();
    await queue.createContainer('q');
  });
  afterEach(async () => {
    await queue.close();
    await log.close();
  });

  const claimFor = (workerId: string) => ({ claimFor: { taskLog: log, workerId, leaseMs: HOUR } });
  const claimOf = (received: ReceivedMessage[], taskId: string) => received.filter((m) => m.taskId === taskId).map((m) => m.claim);

  test(claims ? 'one statement leases the messages and claims their tasks, each message with its own outcome' : 'claimFor is ignored: the messages come without claims', async () => {
    await log.add(['a', 'b', 'c', 'busy', 'done'].map(entry));
    expect(await log.claim('busy', 'w0', HOUR)).toMatchObject({ outcome: 'claimed' });
    expect(await log.claim('done', 'w0', HOUR)).toMatchObject({ outcome: 'claimed' });
    expect(await log.changeStatus('done', { from: [TaskStatus.Running], to: TaskStatus.Completed, finished: true, report: null })).toBe(true);
    // 'a' twice: a duplicate message of one task.
    await queue.pushMany('q', ['a', 'b', 'c', 'busy', 'done', 'a', 'missing'].map(message));

    const counter = countStatements(log);
    const received = await queue.receive('q', 10, HOUR, claimFor('w1'));
    expect(received.map((m) => m.taskId)).toEqual(['a', 'b', 'c', 'busy', 'done', 'a', 'missing']);
    if (!claims) {
      expect(received.every((m) => m.claim === undefined)).toBe(true);
      expect((await log.get('a'))?.status).toBe(TaskStatus.Enqueued);
      return;
    }
    expect(counter.statements).toBe(1);
    expect(claimOf(received, 'a')).toEqual([{ outcome: 'claimed', attempt: 1, stalls: 0, tookOver: false }, null]);
    for (const id of ['b', 'c']) expect(claimOf(received, id)).toEqual([{ outcome: 'claimed', attempt: 1, stalls: 0, tookOver: false }]);
    for (const id of ['busy', 'done', 'missing']) expect(claimOf(received, id)).toEqual([null]);
    for (const id of ['a', 'b', 'c']) expect(await log.get(id)).toMatchObject({ status: TaskStatus.Running, workerId: 'w1', attempts: 1 });
    expect(await log.get('busy')).toMatchObject({ status: TaskStatus.Running, workerId: 'w0' });
    expect((await log.get('done'))?.status).toBe(TaskStatus.Completed);
    // The messages are leased as a plain receive leases them.
    expect(await queue.receive('q', 10, HOUR)).toEqual([]);
    expect(await queue.countLeased('q')).toBe(7);
  });

  test('a unique task, or one whose message names prerequisites or a revision, is not claimed by the receive (its start decides)', async () => {
    await log.add(['plain', 'after', 'revision'].map(entry));
    expect(await log.addUnique(entry('unique'), 'the-key')).toEqual({ outcome: 'added' });
    await queue.pushMany('q', [
      message('plain'),
      message('unique'),
      { taskId: 'after', body: JSON.stringify({ id: 'after', after: ['plain'] }) },
      { taskId: 'revision', body: JSON.stringify({ id: 'revision', revision: 0 }) },
    ]);
    const received = await queue.receive('q', 10, HOUR, claimFor('w1'));
    expect(received.map((m) => m.taskId)).toEqual(['plain', 'unique', 'after', 'revision']);
    if (!claims) return;
    expect(claimOf(received, 'plain')).toEqual([{ outcome: 'claimed', attempt: 1, stalls: 0, tookOver: false }]);
    for (const id of ['unique', 'after', 'revision']) {
      expect(claimOf(received, id)).toEqual([null]);
      expect(await log.get(id)).toMatchObject({ status: TaskStatus.Enqueued, attempts: 0 });
    }
  });

  test('an entry whose lease ran out is taken over, the stall counted', async () => {
    await log.add([entry('s')]);
    await log.claim('s', 'w0', 1);
    await new Promise((resolve) => setTimeout(resolve, 20));
    await queue.push('q', message('s'));
    const [received] = await queue.receive('q', 1, HOUR, claimFor('w1'));
    if (!claims) return expect(received.claim).toBeUndefined();
    expect(received.claim).toEqual({ outcome: 'claimed', attempt: 2, stalls: 1, tookOver: true });
    expect(await log.get('s')).toMatchObject({ status: TaskStatus.Running, workerId: 'w1', attempts: 2, stalls: 1 });
  });

  test("a lapsed lease of the receiving worker's own run is not taken over by its receive", async () => {
    await log.add([entry('own')]);
    await log.claim('own', 'w1', 1);
    await new Promise((resolve) => setTimeout(resolve, 20));
    await queue.push('q', message('own'));
    const [received] = await queue.receive('q', 1, HOUR, claimFor('w1'));
    expect(received.claim).toBe(claims ? null : undefined);
    expect(await log.get('own')).toMatchObject({ status: TaskStatus.Running, workerId: 'w1', attempts: 1, stalls: 0 });
  });

  test('two workers receiving with claims at once: every message received once, every task claimed once', async () => {
    const ids = Array.from({ length: 120 }, (_, i) => `t${String(i).padStart(3, '0')}`);
    await log.add(ids.map(entry));
    await queue.pushMany('q', ids.map(message));
    const other = new RdsQueueBroker({ connection, table: `rc_messages_${n}`, receive: 50 });
    try {
      const drain = async (broker: RdsQueueBroker, workerId: string): Promise<ReceivedMessage[]> => {
        const got: ReceivedMessage[] = [];
        for (;;) {
          const batch = await broker.receive('q', 7, HOUR, claimFor(workerId));
          if (batch.length === 0) return got;
          got.push(...batch);
        }
      };
      const [first, second] = await Promise.all([drain(queue, 'w1'), drain(other, 'w2')]);
      const all = [...first, ...second];
      expect(all.map((m) => m.taskId).sort()).toEqual(ids);
      if (!claims) return;
      expect(all.every((m) => m.claim?.outcome === 'claimed')).toBe(true);
      const entries = await Promise.all(ids.map((id) => log.get(id)));
      expect(entries.every((e) => e?.status === TaskStatus.Running && e.attempts === 1)).toBe(true);
      expect(entries.filter((e) => e?.workerId === 'w1')).toHaveLength(first.length);
    } finally {
      await other.close();
    }
  });
});
