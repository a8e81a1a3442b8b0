/**
 * Delivery races (issue 5): each test tries to make a task run twice at once, hang, or be lost,
 * on memory, SQLite and PostgreSQL.
 */
import {
  AbstractTask,
  LeaseLostError,
  Queue,
  QueueDispatcher,
  TaskLog,
  TaskLogFilter,
  TaskStatus,
  Worker,
  silentLogger,
  type TaskContext,
  type WorkerOptions,
} from '../../src';
import { type BrokerSetup, deliverySetups } from '../helpers/brokerSetups';
import { taskMessageBody } from '../helpers/messages';
import { RecordRun, Sleep, runs } from '../helpers/tasks';
import { until, wait } from '../helpers/wait';

/** Blocks the event loop (synchronous work), then finishes after a short await. */
class BlockLoop extends AbstractTask<{ blockMs: number }> {
  static override taskName = 'BlockLoop';
  async run(ctx: TaskContext) {
    runs.set(ctx.taskId, (runs.get(ctx.taskId) ?? 0) + 1);
    const end = Date.now() + this.getParameter('blockMs');
    while (Date.now() < end) {
      // busy: no timer, no heartbeat, no I/O can run meanwhile
    }
    await wait(300);
    return 'done';
  }
}

class WaitForAbort extends AbstractTask<Record<string, never>> {
  static override taskName = 'WaitForAbort';
  static reasons = new Map<string, unknown>();
  async run(ctx: TaskContext) {
    await new Promise<void>((resolve) => ctx.signal.addEventListener('abort', () => resolve(), { once: true }));
    WaitForAbort.reasons.set(ctx.taskId, ctx.signal.reason);
  }
}

class AlwaysFails extends AbstractTask<Record<string, never>> {
  static override taskName = 'AlwaysFails';
  static override backoff = 0;
  run(ctx: TaskContext) {
    runs.set(ctx.taskId, (runs.get(ctx.taskId) ?? 0) + 1);
    throw new Error(`failure on attempt ${ctx.attempt}`);
  }
}

class ReturnsBigInt extends AbstractTask<Record<string, never>> {
  static override taskName = 'ReturnsBigInt';
  run(ctx: TaskContext) {
    runs.set(ctx.taskId, (runs.get(ctx.taskId) ?? 0) + 1);
    return { big: 10n } as never;
  }
}

class ReturnsCycle extends AbstractTask<Record<string, never>> {
  static override taskName = 'ReturnsCycle';
  run(ctx: TaskContext) {
    runs.set(ctx.taskId, (runs.get(ctx.taskId) ?? 0) + 1);
    const cycle: Record<string, unknown> = {};
    cycle.self = cycle;
    return cycle as never;
  }
}

class Spawner extends AbstractTask<{ children: number }> {
  static override taskName = 'Spawner';
  async run(ctx: TaskContext) {
    for (let i = 0; i < this.getParameter('children'); i++) await ctx.enqueueChild(new Sleep({ ms: 10 }), `child ${i}`);
  }
}

const TASKS = [RecordRun, Sleep, BlockLoop, WaitForAbort, AlwaysFails, ReturnsBigInt, ReturnsCycle, Spawner];

describe.each(deliverySetups())('delivery on %s', (_name, setup) => {
  let sut: BrokerSetup;
  let dispatcher: QueueDispatcher;
  const workers: Worker[] = [];

  const start = (options: WorkerOptions = {}, on: QueueDispatcher = dispatcher) => {
    const worker = new Worker(on, { idleMaxMs: 20, logger: silentLogger, ...options });
    workers.push(worker);
    void worker.run();
    return worker;
  };
  const statusOf = (id: string) => dispatcher.taskLog.getStatus(id);
  const queue = () => dispatcher.getQueue('q');

  beforeEach(async () => {
    sut = setup();
    dispatcher = new QueueDispatcher({ queues: [new Queue('q', sut.queueBroker)], taskLog: new TaskLog(sut.taskLogBroker), tasks: TASKS, logger: silentLogger });
    await dispatcher.initialize();
    runs.clear();
    WaitForAbort.reasons.clear();
  });

  afterEach(async () => {
    jest.restoreAllMocks();
    await Promise.all(workers.splice(0).map((w) => w.stop()));
    await dispatcher.close();
    await sut.cleanup();
  });

  test('a worker never runs one task twice at once, even when its own lease lapses while the event loop is blocked', async () => {
    // Renewing a message lease takes a while (a busy database): once the blocked loop frees up, the
    // worker's next receive comes before the renewal and finds its own message visible again.
    const extendLease = sut.queueBroker.extendLease.bind(sut.queueBroker);
    jest.spyOn(sut.queueBroker, 'extendLease').mockImplementation(async (...args) => {
      await wait(300);
      return extendLease(...args);
    });
    const task = await dispatcher.enqueue(new BlockLoop({ blockMs: 400 }));
    start({ leaseMs: 150, concurrency: 2 });
    await until(async () => (await statusOf(task.id)) === TaskStatus.Completed, 10_000, 'completion');
    await wait(400);
    expect(runs.get(task.id)).toBe(1);
    expect(await dispatcher.taskLog.get(task.id)).toMatchObject({ status: TaskStatus.Completed, attempts: 1 });
    await until(async () => (await queue().count()) === 0, 5_000, 'the message acknowledged');
  });

  test('a run whose lease was claimed again can no longer write: the newer claim (fencing token) wins', async () => {
    const task = await dispatcher.enqueue(new RecordRun({ n: 1 }));
    const log = dispatcher.taskLog;
    const first = await log.claim(task.id, 'w1', 100);
    expect(first).toMatchObject({ outcome: 'claimed', attempt: 1 });
    await wait(200);
    // The same worker id claims it again after the lapse: only the attempt tells the runs apart.
    const second = await log.claim(task.id, 'w1', 60_000);
    expect(second).toMatchObject({ outcome: 'claimed', attempt: 2, stalls: 1 });
    const stale = { workerId: 'w1', attempt: 1 };
    expect(await log.renewLeases('w1', [{ id: task.id, attempt: 1 }], 60_000)).toEqual([]);
    await log.setProgress(task.id, stale, 'stale progress');
    expect(await log.changeStatus(task.id, { from: [TaskStatus.Running], to: TaskStatus.Failed, holder: stale, finished: true, report: null })).toBe(false);
    expect(await log.get(task.id)).toMatchObject({ status: TaskStatus.Running, progress: null, attempts: 2 });
    expect(await log.changeStatus(task.id, { from: [TaskStatus.Running], to: TaskStatus.Completed, holder: { workerId: 'w1', attempt: 2 }, finished: true, report: null })).toBe(true);
  });

  test('a failing message-lease extension does not stop the task-log lease renewal: no second worker takes the task', async () => {
    jest.spyOn(sut.queueBroker, 'extendLease').mockRejectedValue(new Error('queue unreachable'));
    if (sut.secondQueueBroker !== sut.queueBroker) jest.spyOn(sut.secondQueueBroker, 'extendLease').mockRejectedValue(new Error('queue unreachable'));
    const task = await dispatcher.enqueue(new Sleep({ ms: 1_200 }));
    start({ leaseMs: 300 });
    await until(async () => (await statusOf(task.id)) === TaskStatus.Running);
    start({ leaseMs: 300 });
    await until(async () => (await statusOf(task.id)) === TaskStatus.Completed);
    expect(await dispatcher.taskLog.get(task.id)).toMatchObject({ attempts: 1, stalls: 0, report: { data: { attempt: 1 } } });
  });

  test('a run whose task-log lease cannot be renewed has its signal aborted before another worker may take it', async () => {
    const task = await dispatcher.enqueue(new WaitForAbort({}));
    start({ leaseMs: 300 });
    await until(async () => (await statusOf(task.id)) === TaskStatus.Running);
    jest.spyOn(sut.taskLogBroker, 'renewLeases').mockRejectedValue(new Error('log unreachable'));
    await until(() => WaitForAbort.reasons.has(task.id), 2_000, 'the abort');
    expect(WaitForAbort.reasons.get(task.id)).toBeInstanceOf(LeaseLostError);
    // The log is back: the task runs again (its message was given back); end that run too.
    jest.restoreAllMocks();
    await dispatcher.taskLog.cancel(task.id, { force: true });
  });

  test('a slow database never has more than one lease renewal of each kind in flight per worker', async () => {
    const most = { log: 0, queue: 0 };
    const inFlight = { log: 0, queue: 0 };
    const slow =
      <A extends unknown[], R>(kind: 'log' | 'queue', original: (...args: A) => Promise<R>) =>
      async (...args: A): Promise<R> => {
        inFlight[kind]++;
        most[kind] = Math.max(most[kind], inFlight[kind]);
        await wait(400);
        try {
          return await original(...args);
        } finally {
          inFlight[kind]--;
        }
      };
    const renewLeases = slow('log', sut.taskLogBroker.renewLeases.bind(sut.taskLogBroker));
    const extendLease = slow('queue', sut.queueBroker.extendLease.bind(sut.queueBroker));
    jest.spyOn(sut.taskLogBroker, 'renewLeases').mockImplementation(renewLeases);
    jest.spyOn(sut.queueBroker, 'extendLease').mockImplementation(extendLease);
    const task = await dispatcher.enqueue(new Sleep({ ms: 1_000 }));
    start({ leaseMs: 900 });
    await until(async () => (await statusOf(task.id)) === TaskStatus.Completed);
    expect(most).toEqual({ log: 1, queue: 1 });
  });

  test('a busy worker does not hold messages an idle worker could run (receives at most its free slots)', async () => {
    const [slow, next] = await dispatcher.enqueueMany([new Sleep({ ms: 1_500 }), new Sleep({ ms: 10 })]);
    start({ concurrency: 1, leaseMs: 5_000 });
    await until(async () => (await statusOf(slow.id)) === TaskStatus.Running);
    start({ concurrency: 1, leaseMs: 5_000 });
    await until(async () => (await statusOf(next.id)) === TaskStatus.Completed, 1_000, 'the idle worker to run the second task');
    expect(await statusOf(slow.id)).toBe(TaskStatus.Running);
  });

  test('a heartbeat does not re-extend a message that was just released with a backoff', async () => {
    const broker = sut.queueBroker;
    await broker.createContainer('hb');
    await broker.push('hb', { taskId: 'x', body: 'x' });
    const [m] = await broker.receive('hb', 1, 5_000);
    await broker.release('hb', m, 300);
    // The heartbeat collected the message before the release and extends it after.
    await broker.extendLease('hb', [m], 60_000);
    await wait(450);
    expect((await broker.receive('hb', 1, 5_000)).map((r) => r.taskId)).toEqual(['x']);
  });

  test('stalled runs do not use up maxAttempts: a task that stalled once still gets every attempt', async () => {
    const task = await dispatcher.enqueue(new AlwaysFails({}), { maxAttempts: 2 });
    // A worker received it, claimed it, and died.
    await sut.queueBroker.receive('q', 1, 100);
    expect(await dispatcher.taskLog.claim(task.id, 'dead', 100)).toMatchObject({ outcome: 'claimed', attempt: 1 });
    await wait(250);
    start({ leaseMs: 5_000 });
    await until(async () => (await statusOf(task.id)) === TaskStatus.Failed);
    expect(runs.get(task.id)).toBe(2);
    expect(await dispatcher.taskLog.get(task.id)).toMatchObject({ attempts: 3, stalls: 1, report: { message: 'failure on attempt 3' } });
  });

  test.each([
    ['a BigInt', ReturnsBigInt, /BigInt/],
    ['a cycle', ReturnsCycle, /circular/i],
  ])('a result with %s fails the run once, saying it could not be serialised', async (_what, cls, reason) => {
    const task = await dispatcher.enqueue(new cls({}), { maxAttempts: 3 });
    start({ leaseMs: 300 });
    await until(async () => (await statusOf(task.id)) === TaskStatus.Failed);
    await wait(500);
    expect(runs.get(task.id)).toBe(1);
    const entry = await dispatcher.taskLog.get(task.id);
    expect(entry).toMatchObject({ attempts: 1, report: { type: 'error' } });
    expect(entry?.report?.message).toMatch(/could not be serialised as JSON/);
    expect(entry?.report?.message).toMatch(reason);
  });

  describe('a parent never waits forever for a child that ended another way', () => {
    const childrenOf = (id: string) => dispatcher.taskLog.search(new TaskLogFilter().eq('parentId', id).sort('label'));

    async function parentWaitingOnTwo(): Promise<{ parent: string; children: string[] }> {
      const parent = await dispatcher.enqueue(new Spawner({ children: 2 }));
      await new Worker(dispatcher, { limit: 1, leaseMs: 5_000, logger: silentLogger }).run();
      expect(await statusOf(parent.id)).toBe(TaskStatus.ChildRunning);
      return { parent: parent.id, children: (await childrenOf(parent.id)).map((c) => c.id) };
    }
    const runOne = () => new Worker(dispatcher, { limit: 1, leaseMs: 5_000, logger: silentLogger }).run();

    test('its last child is cancelled: the parent fails', async () => {
      const { parent, children } = await parentWaitingOnTwo();
      await runOne();
      await dispatcher.taskLog.cancel(children[1]);
      expect(await statusOf(parent)).toBe(TaskStatus.Failed);
    });

    test.each([false, true])('its last child is archived (force %s): the parent fails', async (force) => {
      const { parent, children } = await parentWaitingOnTwo();
      await runOne();
      if (force) await dispatcher.taskLog.archive(children[1], { force: true });
      else {
        await dispatcher.taskLog.cancel(children[1]);
        expect(await statusOf(parent)).toBe(TaskStatus.Failed);
        return;
      }
      expect(await statusOf(parent)).toBe(TaskStatus.Failed);
      expect(await dispatcher.taskLog.get(children[1])).toMatchObject({ status: TaskStatus.Archived, archivedFrom: TaskStatus.Enqueued });
    });

    test('a completed child archived before its sibling ends still counts as completed', async () => {
      const { parent, children } = await parentWaitingOnTwo();
      await runOne();
      const done = (await childrenOf(parent)).find((c) => c.status === TaskStatus.Completed);
      await dispatcher.taskLog.archive(done?.id as string);
      expect(await statusOf(parent)).toBe(TaskStatus.ChildRunning);
      await runOne();
      expect(await statusOf(parent)).toBe(TaskStatus.Completed);
      expect(children).toHaveLength(2);
    });

    test('its last child, running, is cancelled by force: the run ends through the lost-lease path and the parent fails', async () => {
      const parent = await dispatcher.enqueue(new Spawner({ children: 0 }));
      const child = new WaitForAbort({});
      child.parentId = parent.id;
      // The parent ran, spawned one long child, and waits for it.
      await dispatcher.enqueue(child);
      await dispatcher.taskLog.changeStatus(parent.id, { from: [TaskStatus.Enqueued], to: TaskStatus.ChildRunning });
      start({ leaseMs: 300 });
      await until(async () => (await statusOf(child.id)) === TaskStatus.Running);
      await dispatcher.taskLog.cancel(child.id, { force: true });
      await until(() => WaitForAbort.reasons.has(child.id));
      expect(await statusOf(parent.id)).toBe(TaskStatus.Failed);
    });
  });

  test('an unknown task is left for a worker that knows it (a rolling deploy), then run there once', async () => {
    const older = new QueueDispatcher({ queues: [new Queue('q', sut.secondQueueBroker)], taskLog: new TaskLog(sut.taskLogBroker), tasks: [Sleep], logger: silentLogger });
    const task = await dispatcher.enqueue(new RecordRun({ n: 1 }));
    const oldWorker = start({ leaseMs: 5_000 }, older);
    await wait(300);
    expect(await statusOf(task.id)).not.toBe(TaskStatus.Failed);
    expect(oldWorker.stats.failed).toBe(0);
    start({ leaseMs: 5_000 });
    // Both workers poll; each time the older one gets the message first it gives it back for
    // another 2 s: a coin toss per round, so the wait allows many rounds.
    await until(async () => (await statusOf(task.id)) === TaskStatus.Completed, 60_000, 'the newer worker to run it');
    expect(runs.get(task.id)).toBe(1);
  }, 70_000);

  test('an unknown task past its grace fails, saying no worker knew it', async () => {
    const createdAt = new Date(Date.now() - 60_000).toISOString();
    await sut.queueBroker.push('q', { taskId: 'new-task-1', body: taskMessageBody({ id: 'new-task-1', name: 'FromTheFuture', createdAt }) });
    await new Worker(dispatcher, { limit: 1, leaseMs: 5_000, unknownTaskGraceMs: 30_000, logger: silentLogger }).run();
    const entry = await dispatcher.taskLog.get('new-task-1');
    expect(entry?.status).toBe(TaskStatus.Failed);
    expect(entry?.report?.message).toMatch(/"FromTheFuture" is not registered.*no worker that knows it took it within 30000 ms/);
  });

  test('a host whose clock runs an hour ahead cannot take over a running task (leases are on the storage clock)', async () => {
    if (!sut.sql) return; // one process, one clock: nothing to skew
    const task = await dispatcher.enqueue(new RecordRun({ n: 1 }));
    const [m] = await sut.queueBroker.receive('q', 1, 30_000);
    expect(m.taskId).toBe(task.id);
    expect(await dispatcher.taskLog.claim(task.id, 'honest', 30_000)).toMatchObject({ outcome: 'claimed' });
    const realNow = Date.now.bind(Date);
    jest.spyOn(Date, 'now').mockImplementation(() => realNow() + 3_600_000);
    expect(await sut.secondQueueBroker.receive('q', 1, 30_000)).toEqual([]);
    expect(await dispatcher.taskLog.claim(task.id, 'skewed', 30_000)).toMatchObject({ outcome: 'busy' });
    // Its own enqueue is visible at once, not an hour late or early.
    await dispatcher.enqueue(new RecordRun({ n: 2 }));
    expect(await sut.secondQueueBroker.receive('q', 5, 30_000)).toHaveLength(1);
  });

  test('leaseMs below the renewal floor is refused', () => {
    expect(() => new Worker(dispatcher, { leaseMs: 40 })).toThrow(/leaseMs must be at least 100 ms/);
  });
});
