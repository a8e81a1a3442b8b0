import { InMemoryTaskLogBroker, TaskLog, TaskLogFilter, TaskStatus, TaskWaitTimeoutError, type TaskLogEntry } from '../../src';
import { TaskEndWatcher } from '../../src/taskLog/taskEndWatcher';
import { wait } from '../helpers/wait';

const entry = (id: string) => ({ id, parentId: null, taskName: 'T', label: '', owner: null, queue: 'q', parameters: {}, createdAt: new Date(), status: TaskStatus.Enqueued });
const end = (log: TaskLog, id: string) => log.changeStatus(id, { from: [TaskStatus.Enqueued], to: TaskStatus.Completed, finished: true, report: JSON.stringify({ type: 'success', message: 'done', data: id, children: [] }) });

describe('TaskLog.waitForEnd', () => {
  let broker: InMemoryTaskLogBroker;
  let log: TaskLog;

  beforeEach(() => {
    broker = new InMemoryTaskLogBroker();
    log = new TaskLog(broker);
  });

  afterEach(() => log.close());

  test('resolves at once with entries already final, in the order asked', async () => {
    await log.add([entry('a'), entry('b')]);
    await end(log, 'b');
    await end(log, 'a');
    const entries = await log.waitForEnd(['b', 'a']);
    expect(entries.map((e) => [e.id, e.report?.data])).toEqual([['b', 'b'], ['a', 'a']]);
  });

  test('sees an end written by another task-log object (another process) on its poll', async () => {
    await log.add([entry('a')]);
    const other = new TaskLog(broker);
    const waiting = log.waitForEnd(['a'], { timeoutMs: 5_000 });
    await wait(50);
    await end(other, 'a');
    const [ended] = await waiting;
    expect(ended.status).toBe(TaskStatus.Completed);
  });

  test('a timeout rejects with the ids not ended; another wait on the same task goes on', async () => {
    await log.add([entry('a'), entry('b')]);
    await end(log, 'b');
    const short = log.waitForEnd(['a', 'b'], { timeoutMs: 100 }).catch((e: unknown) => e);
    const long = log.waitForEnd(['a'], { timeoutMs: 5_000 });
    const error = await short;
    expect(error).toBeInstanceOf(TaskWaitTimeoutError);
    expect(error).toMatchObject({ taskIds: ['a'], timeoutMs: 100, message: expect.stringMatching(/a had not ended \(it was not cancelled\)/) });
    await end(log, 'a');
    await expect(long).resolves.toHaveLength(1);
  });

  test('an abort signal stops the wait with its reason', async () => {
    await log.add([entry('a')]);
    const controller = new AbortController();
    const waiting = log.waitForEnd(['a'], { signal: controller.signal });
    controller.abort(new Error('user went away'));
    await expect(waiting).rejects.toThrow('user went away');
  });

  test('closing the log rejects the waits under way', async () => {
    await log.add([entry('a')]);
    const waiting = log.waitForEnd(['a']);
    await log.close();
    await expect(waiting).rejects.toThrow(/task log was closed/);
    log = new TaskLog(new InMemoryTaskLogBroker());
  });

  test('cancel and recordFailure end a wait too', async () => {
    await log.add([entry('c'), entry('r')]);
    const waiting = log.waitForEnd(['c', 'r']);
    await log.cancel('c');
    await log.recordFailure({ id: 'r', parentId: null, taskName: 'T', label: '', owner: null, queue: 'q', parameters: {}, createdAt: new Date() }, { type: 'error', message: 'undecodable', children: [] });
    const entries = await waiting;
    expect(entries.map((e) => e.status)).toEqual([TaskStatus.Cancelled, TaskStatus.Failed]);
  });
});

describe('TaskEndWatcher', () => {
  /** A log whose ends are set by hand, counting lookups and failing on demand. */
  function fakeSource() {
    const ended = new Map<string, TaskLogEntry>();
    const source = {
      lookups: 0,
      idsPerLookup: [] as number[],
      failing: false,
      ended,
      async search(filter: TaskLogFilter): Promise<TaskLogEntry[]> {
        source.lookups++;
        if (source.failing) throw new Error('connection refused');
        const condition = TaskLogFilter.snapshot(filter).conditions.find((c) => c.column === 'id');
        const ids = condition && condition.operator === 'in' ? (condition.values as string[]) : [];
        source.idsPerLookup.push(ids.length);
        return ids.flatMap((id) => (ended.has(id) ? [ended.get(id) as TaskLogEntry] : []));
      },
    };
    return source;
  }
  const final = (id: string) => ({ id, status: TaskStatus.Completed }) as TaskLogEntry;

  test('a poke looks at once, whatever the poll has grown to', async () => {
    const source = fakeSource();
    const watcher = new TaskEndWatcher(source, { minPollMs: 60_000, maxPollMs: 60_000 });
    const waiting = watcher.wait(['a']);
    await wait(30);
    expect(source.lookups).toBe(1); // the first look, at once; the next poll is a minute away
    source.ended.set('a', final('a'));
    watcher.poke();
    await expect(waiting).resolves.toEqual([final('a')]);
    expect(source.lookups).toBe(2);
  });

  test('the poll doubles while nothing ends, up to its maximum', async () => {
    const source = fakeSource();
    const watcher = new TaskEndWatcher(source, { minPollMs: 10, maxPollMs: 40 });
    const waiting = watcher.wait(['a'], { timeoutMs: 400 }).catch(() => undefined);
    await wait(200);
    // Looks at 0, 10, 30, 70, 110, 150, 190 ms: about 7, where a fixed 10 ms poll makes 20.
    expect(source.lookups).toBeGreaterThanOrEqual(4);
    expect(source.lookups).toBeLessThanOrEqual(10);
    await waiting;
  });

  test('a log that fails is looked at again on the next poll, and the wait ends when it answers', async () => {
    const source = fakeSource();
    source.failing = true;
    const watcher = new TaskEndWatcher(source, { minPollMs: 5, maxPollMs: 20 });
    source.ended.set('a', final('a'));
    const waiting = watcher.wait(['a'], { timeoutMs: 5_000 });
    await wait(60);
    expect(source.lookups).toBeGreaterThan(1);
    source.failing = false;
    await expect(waiting).resolves.toEqual([final('a')]);
  });

  test('many ids are looked up in chunks of 500, every waiter in one round', async () => {
    const source = fakeSource();
    const watcher = new TaskEndWatcher(source, { minPollMs: 5, maxPollMs: 5 });
    const ids = Array.from({ length: 1_200 }, (_, i) => `t${i}`);
    for (const id of ids) source.ended.set(id, final(id));
    const [first, second] = await Promise.all([watcher.wait(ids.slice(0, 700)), watcher.wait(ids.slice(700))]);
    expect(first).toHaveLength(700);
    expect(second).toHaveLength(500);
    expect(source.idsPerLookup.slice(0, 3)).toEqual([500, 500, 200]);
  });

  test('the same id twice in one wait resolves once it ends', async () => {
    const source = fakeSource();
    const watcher = new TaskEndWatcher(source, { minPollMs: 5, maxPollMs: 5 });
    source.ended.set('a', final('a'));
    await expect(watcher.wait(['a', 'a'])).resolves.toEqual([final('a'), final('a')]);
  });
});
