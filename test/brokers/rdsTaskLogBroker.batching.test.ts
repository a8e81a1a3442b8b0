/**
 * The SQL task log's batched claims and run ends: calls made in one turn become one statement,
 * and each caller still gets exactly its own outcome, under the same rules as one at a time.
 */
import { RdsTaskLogBroker, TaskStatus, type NewTaskLogEntry } from '../../src';
import { sqlDatabases } from '../helpers/sqlDatabases';

const databases = sqlDatabases('batching');

const HOUR = 3_600_000;
let n = 0;

const entry = (id: string): NewTaskLogEntry => ({ id, parentId: null, taskName: 'T', label: '', owner: null, queue: 'q', parameters: null, createdAt: new Date(), status: TaskStatus.Enqueued });

/** Counts the UPDATE statements the broker sends, whatever the executor method. */
function countUpdates(broker: RdsTaskLogBroker): { readonly updates: number } {
  const exec = broker.database.exec as unknown as Record<'all' | 'run', (sql: string, bindings?: unknown[]) => Promise<unknown>>;
  const counter = { updates: 0 };
  for (const method of ['all', 'run'] as const) {
    const original = exec[method].bind(exec);
    exec[method] = (sql, bindings) => {
      // A plain UPDATE, or one inside a WITH (PostgreSQL's run ends, with their NOTIFY).
      if (/^\s*(WITH [\s\S]*[()]\s*)?UPDATE/i.test(sql)) counter.updates++;
      return original(sql, bindings);
    };
  }
  return counter;
}

describe.each(databases)('%s', (name, connection) => {
  const batches = name === 'PostgreSQL';
  let broker: RdsTaskLogBroker;
  beforeEach(async () => {
    broker = new RdsTaskLogBroker({ connection, table: `batch_log_${++n}` });
    await broker.createContainer();
  });
  afterEach(() => broker.close());

  test(`ten claims in one turn: ${batches ? 'one statement' : 'one each'}, each claimed once with its own attempt`, async () => {
    const ids = Array.from({ length: 10 }, (_, i) => `c${i}`);
    await broker.add(ids.map(entry));
    await broker.claim('c3', 'w0', 1); // c3 stalls: its lease ends at once
    await new Promise((resolve) => setTimeout(resolve, 20));
    const counter = countUpdates(broker);
    const claims = await Promise.all(ids.map((id) => broker.claim(id, 'w1', HOUR)));
    expect(counter.updates).toBe(batches ? 1 : 10);
    expect(claims.map((c) => c.outcome)).toEqual(ids.map(() => 'claimed'));
    expect(claims[3]).toEqual({ outcome: 'claimed', attempt: 2, stalls: 1, tookOver: true });
    expect(claims[0]).toEqual({ outcome: 'claimed', attempt: 1, stalls: 0, tookOver: false });
  });

  test('one id claimed twice in one turn by one worker (one statement): one claim, the other finds it busy', async () => {
    await broker.add([entry('twice'), entry('other')]);
    const [a, b, other] = await Promise.all([broker.claim('twice', 'w1', HOUR), broker.claim('twice', 'w1', HOUR), broker.claim('other', 'w2', HOUR)]);
    expect([a.outcome, b.outcome].sort()).toEqual(['busy', 'claimed']);
    expect(other.outcome).toBe('claimed');
    expect((await broker.get('twice'))?.attempts).toBe(1);
  });

  test('a batch mixing claimable, running, ended and missing entries tells each its own outcome', async () => {
    await broker.add([entry('free'), entry('held'), { ...entry('done'), status: TaskStatus.Completed }]);
    await broker.claim('held', 'w0', HOUR);
    const [free, held, done, missing] = await Promise.all(['free', 'held', 'done', 'missing'].map((id) => broker.claim(id, 'w1', HOUR)));
    expect(free.outcome).toBe('claimed');
    expect(held.outcome).toBe('busy');
    expect(done).toEqual({ outcome: 'not-runnable', status: TaskStatus.Completed });
    expect(missing).toEqual({ outcome: 'missing' });
  });

  test(`run ends in one turn: ${batches ? 'one statement' : 'one each'}; only those still under their own claim are written`, async () => {
    const ids = Array.from({ length: 6 }, (_, i) => `r${i}`);
    await broker.add(ids.map(entry));
    const claims = await Promise.all(ids.map((id) => broker.claim(id, 'w1', HOUR)));
    // r4 was taken over (a stall) by w2; r5 was cancelled meanwhile.
    await broker.changeStatus('r4', { from: [TaskStatus.Running], to: TaskStatus.Enqueued, releaseLease: true });
    await broker.claim('r4', 'w2', HOUR);
    await broker.changeStatus('r5', { from: [TaskStatus.Running], to: TaskStatus.Cancelled, finished: true });
    const counter = countUpdates(broker);
    const written = await Promise.all(
      ids.map((id, i) => broker.changeStatus(id, { from: [TaskStatus.Running], to: TaskStatus.Completed, holder: { workerId: 'w1', attempt: claims[i].outcome === 'claimed' ? claims[i].attempt : 0 }, report: JSON.stringify({ n: i }), finished: true })),
    );
    expect(counter.updates).toBe(batches ? 1 : 6);
    expect(written).toEqual([true, true, true, true, false, false]);
    for (const [i, id] of ids.slice(0, 4).entries()) expect(await broker.get(id)).toMatchObject({ status: TaskStatus.Completed, report: { n: i }, leaseUntil: null });
    expect(await broker.get('r4')).toMatchObject({ status: TaskStatus.Running, workerId: 'w2' });
    expect((await broker.get('r5'))?.status).toBe(TaskStatus.Cancelled);
    expect((await broker.get('r0'))?.finishedAt).not.toBeNull();
  });

  test('run ends of different kinds in one turn (completed, failed, back to enqueued for a retry) each get theirs', async () => {
    await broker.add(['a', 'b', 'c'].map(entry));
    const [a, b, c] = await Promise.all(['a', 'b', 'c'].map((id) => broker.claim(id, 'w1', HOUR)));
    const holder = (claim: typeof a) => ({ workerId: 'w1', attempt: claim.outcome === 'claimed' ? claim.attempt : 0 });
    const results = await Promise.all([
      broker.changeStatus('a', { from: [TaskStatus.Running], to: TaskStatus.Completed, holder: holder(a), report: '"ok"', finished: true }),
      broker.changeStatus('b', { from: [TaskStatus.Running], to: TaskStatus.Failed, holder: holder(b), report: '"boom"', finished: true }),
      broker.changeStatus('c', { from: [TaskStatus.Running], to: TaskStatus.Enqueued, holder: holder(c), report: '"again"', releaseLease: true }),
    ]);
    expect(results).toEqual([true, true, true]);
    expect(await broker.get('a')).toMatchObject({ status: TaskStatus.Completed, report: 'ok' });
    expect(await broker.get('b')).toMatchObject({ status: TaskStatus.Failed, report: 'boom' });
    expect(await broker.get('c')).toMatchObject({ status: TaskStatus.Enqueued, report: 'again', workerId: null, leaseUntil: null, finishedAt: null });
  });
});
