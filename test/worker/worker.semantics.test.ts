import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  AbstractTask,
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
  type QueueBroker,
  type ReceivedMessage,
  type TaskContext,
  type TaskLogBroker,
} from '../../src';
import { RecordRun, Sleep, runs } from '../helpers/tasks';
import { until, wait } from '../helpers/wait';

class WaitForAbort extends AbstractTask<Record<string, never>> {
  static override taskName = 'WaitForAbort';
  static aborted: string[] = [];
  async run(ctx: TaskContext) {
    await new Promise<void>((resolve) => ctx.signal.addEventListener('abort', () => resolve(), { once: true }));
    WaitForAbort.aborted.push(ctx.taskId);
    return 'noticed the abort';
  }
}

class Parent extends AbstractTask<{ children: number; failOne?: boolean }> {
  static override taskName = 'Parent';
  async run(ctx: TaskContext) {
    for (let i = 0; i < this.getParameter('children'); i++) {
      await ctx.enqueueChild(new Child({ fail: this.getParameter('failOne') === true && i === 1 }), `child ${i}`);
    }
    return 'spawned';
  }
}

class Child extends AbstractTask<{ fail: boolean }> {
  static override taskName = 'Child';
  async run(ctx: TaskContext) {
    await ctx.progress(0.5);
    if (this.getParameter('fail')) throw new Error('child failed');
    return 'child done';
  }
}

class Forever extends AbstractTask<Record<string, never>> {
  static override taskName = 'Forever';
  static override timeout = 200;
  async run(ctx: TaskContext) {
    // A well-behaved long task: stops its own work when the signal aborts (here: the timeout).
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, 5_000);
      ctx.signal.addEventListener('abort', () => {
        clearTimeout(timer);
        resolve();
      });
    });
  }
}

const TASKS = [RecordRun, Sleep, WaitForAbort, Parent, Child, Forever];

const setups: [string, () => { queueBroker: QueueBroker; taskLogBroker: TaskLogBroker; cleanup: () => void }][] = [
  ['memory', () => ({ queueBroker: new InMemoryQueueBroker({ sync: false, receive: 5 }), taskLogBroker: new InMemoryTaskLogBroker(), cleanup: () => undefined })],
  [
    'sqlite',
    () => {
      const dir = mkdtempSync(join(tmpdir(), 'taskq-worker-'));
      const connection = `sqlite:${join(dir, 'q.db')}`;
      return { queueBroker: new RdsQueueBroker({ connection, receive: 5 }), taskLogBroker: new RdsTaskLogBroker({ connection }), cleanup: () => rmSync(dir, { recursive: true, force: true }) };
    },
  ],
];

describe.each(setups)('Worker on %s', (_name, setup) => {
  let dispatcher: QueueDispatcher;
  let cleanup: () => void;
  const workers: Worker[] = [];

  const start = (options: ConstructorParameters<typeof Worker>[1] = {}) => {
    const worker = new Worker(dispatcher, { idleMaxMs: 50, logger: silentLogger, ...options });
    workers.push(worker);
    void worker.run();
    return worker;
  };

  beforeEach(async () => {
    const s = setup();
    cleanup = s.cleanup;
    dispatcher = new QueueDispatcher({ queues: [new Queue('q', s.queueBroker)], taskLog: new TaskLog(s.taskLogBroker), tasks: TASKS, logger: silentLogger });
    await dispatcher.initialize();
    runs.clear();
    WaitForAbort.aborted = [];
  });

  afterEach(async () => {
    await Promise.all(workers.splice(0).map((w) => w.stop()));
    await dispatcher.close();
    cleanup();
  });

  test('renews the lease of a task that runs longer than it: no second worker runs it', async () => {
    const task = await dispatcher.enqueue(new Sleep({ ms: 1_200 }));
    start({ leaseMs: 300 });
    await until(async () => (await dispatcher.taskLog.getStatus(task.id)) === TaskStatus.Running);
    start({ leaseMs: 300 });
    await until(async () => (await dispatcher.taskLog.getStatus(task.id)) === TaskStatus.Completed);
    expect(await dispatcher.taskLog.get(task.id)).toMatchObject({ attempts: 1, report: { data: { attempt: 1 } } });
    await until(async () => (await dispatcher.getQueue('q').count()) === 0);
  });

  test('cancel with force aborts the running task through its signal; it stays cancelled', async () => {
    const task = await dispatcher.enqueue(new WaitForAbort({}));
    start({ leaseMs: 300 });
    await until(async () => (await dispatcher.taskLog.getStatus(task.id)) === TaskStatus.Running);
    await dispatcher.taskLog.cancel(task.id, { force: true });
    await until(async () => WaitForAbort.aborted.includes(task.id));
    await until(async () => (await dispatcher.getQueue('q').count()) === 0);
    expect(await dispatcher.taskLog.getStatus(task.id)).toBe(TaskStatus.Cancelled);
  });

  test('a task past its timeout fails with a timeout report', async () => {
    const task = await dispatcher.enqueue(new Forever({}));
    start();
    await until(async () => (await dispatcher.taskLog.getStatus(task.id)) === TaskStatus.Failed);
    expect((await dispatcher.taskLog.getReport(task.id))?.message).toBe('Task timed out after 200 ms');
  });

  test('a parent waits in child_running until its children end, then completes', async () => {
    const parent = await dispatcher.enqueue(new Parent({ children: 3 }));
    start({ limit: 1 });
    await until(async () => (await dispatcher.taskLog.getStatus(parent.id)) === TaskStatus.ChildRunning);
    const children = await dispatcher.taskLog.search(new TaskLogFilter().eq('parentId', parent.id));
    expect(children).toHaveLength(3);
    expect(children.every((c) => c.status === TaskStatus.Enqueued)).toBe(true);
    start({ concurrency: 3 });
    await until(async () => (await dispatcher.taskLog.getStatus(parent.id)) === TaskStatus.Completed);
    const done = await dispatcher.taskLog.search(new TaskLogFilter().eq('parentId', parent.id));
    expect(done.map((c) => c.status)).toEqual(['completed', 'completed', 'completed']);
    expect(done[0].progress).toBe(0.5);
    expect((await dispatcher.taskLog.getReport(parent.id))?.message).toBe('Task completed');
  });

  test('a parent fails when one of its children failed', async () => {
    const parent = await dispatcher.enqueue(new Parent({ children: 3, failOne: true }));
    start({ concurrency: 2 });
    await until(async () => (await dispatcher.taskLog.getStatus(parent.id)) === TaskStatus.Failed);
    expect((await dispatcher.taskLog.getReport(parent.id))?.message).toBe('1 child task(s) did not complete');
  });

  test('stop() lets running tasks finish and gives back prefetched ones at once', async () => {
    const tasks = await dispatcher.enqueueMany([new Sleep({ ms: 400 }), ...Array.from({ length: 4 }, (_, i) => new RecordRun({ n: i }))]);
    const worker = start({ leaseMs: 60_000 });
    await until(async () => (await dispatcher.taskLog.getStatus(tasks[0].id)) === TaskStatus.Running);
    await worker.stop();
    expect(await dispatcher.taskLog.getStatus(tasks[0].id)).toBe(TaskStatus.Completed);
    // The four others were received with the first (receive = 5) but not started: with a 60 s lease
    // they would be stuck if the worker had not released them.
    const stats = await new Worker(dispatcher, { limit: 4, leaseMs: 60_000, idleMaxMs: 50, logger: silentLogger }).run();
    expect(stats.completed).toBe(4);
  });
});

/** A broker that fails on demand, standing in for a database that restarts. */
class FlakyBroker extends InMemoryQueueBroker {
  failReceives = 0;
  failAcks = 0;
  override async receive(queue: string, max: number, leaseMs: number): Promise<ReceivedMessage[]> {
    if (this.failReceives > 0) {
      this.failReceives--;
      throw new Error('connection refused');
    }
    return super.receive(queue, max, leaseMs);
  }
  override async acknowledge(queue: string, message: ReceivedMessage): Promise<void> {
    if (this.failAcks > 0) {
      this.failAcks--;
      throw new Error('connection reset');
    }
    return super.acknowledge(queue, message);
  }
}

test('a worker rides out broker failures: nothing is lost and nothing runs twice', async () => {
  const broker = new FlakyBroker({ sync: false, receive: 5 });
  const dispatcher = new QueueDispatcher({ queues: [new Queue('q', broker)], taskLog: new TaskLog(new InMemoryTaskLogBroker()), tasks: TASKS, logger: silentLogger });
  runs.clear();
  const tasks = await dispatcher.enqueueMany(Array.from({ length: 10 }, (_, i) => new RecordRun({ n: i })));
  broker.failReceives = 3;
  broker.failAcks = 2;
  const worker = new Worker(dispatcher, { leaseMs: 300, idleMaxMs: 50, logger: silentLogger });
  const running = worker.run();
  await until(async () => (await broker.count('q')) === 0);
  await worker.stop();
  await running;
  expect(tasks.every((t) => runs.get(t.id) === 1)).toBe(true);
  expect((await dispatcher.taskLog.getStats()).completed).toBe(10);
});

test('on the sync broker, children run inside the parent and the parent completes at once', async () => {
  const dispatcher = new QueueDispatcher({ queues: [new Queue('q', new InMemoryQueueBroker())], taskLog: new TaskLog(new InMemoryTaskLogBroker()), tasks: TASKS, logger: silentLogger });
  const parent = await dispatcher.enqueue(new Parent({ children: 2 }));
  expect(await dispatcher.taskLog.getStatus(parent.id)).toBe(TaskStatus.Completed);
  expect(await dispatcher.taskLog.count(new TaskLogFilter().eq('parentId', parent.id).eq('status', 'completed'))).toBe(2);
});

test('a worker refuses to start when there is nothing to consume (sync queues only)', () => {
  const dispatcher = new QueueDispatcher({ queues: [new Queue('q', new InMemoryQueueBroker())], taskLog: new TaskLog(new InMemoryTaskLogBroker()), tasks: TASKS, logger: silentLogger });
  expect(() => new Worker(dispatcher)).toThrow(/Nothing to consume: every queue is on the sync in-memory broker/);
  expect(() => new Worker(dispatcher, { queue: 'q' })).toThrow(/queue "q" is on the sync in-memory broker/);
});

test('a task whose worker keeps dying fails after maxAttempts + maxStalls starts instead of looping', async () => {
  const broker = new InMemoryQueueBroker({ sync: false });
  const dispatcher = new QueueDispatcher({ queues: [new Queue('q', broker)], taskLog: new TaskLog(new InMemoryTaskLogBroker()), tasks: TASKS, logger: silentLogger });
  runs.clear();
  const task = await dispatcher.enqueue(new RecordRun({ n: 1 }));
  // Two workers in a row receive it, start it, and die (maxAttempts 1 + maxStalls 1 = 2 starts).
  for (const dead of ['dead-1', 'dead-2']) {
    await broker.receive('q', 1, 50);
    expect((await dispatcher.taskLog.claim(task.id, dead, 50)).outcome).toBe('claimed');
    await wait(80);
  }
  const stats = await new Worker(dispatcher, { limit: 1, leaseMs: 5_000, logger: silentLogger }).run();
  expect(stats.failed).toBe(1);
  expect(runs.has(task.id)).toBe(false);
  const entry = await dispatcher.taskLog.get(task.id);
  expect(entry).toMatchObject({ status: TaskStatus.Failed, attempts: 3 });
  expect(entry).toMatchObject({ stalls: 2 });
  expect(entry?.report?.message).toMatch(/stalled 2 times/);
  expect(await broker.count('q')).toBe(0);
});

test("a task's ctx.logger puts the task's id and name on its lines", async () => {
  const lines: { message: string; fields?: Record<string, unknown> }[] = [];
  const capture = { debug: () => undefined, warn: () => undefined, error: () => undefined, info: (message: string, fields?: Record<string, unknown>) => void lines.push({ message, fields }) };
  class Chatty extends AbstractTask<Record<string, never>> {
    static override taskName = 'Chatty';
    run(ctx: TaskContext) {
      ctx.logger.info('halfway', { step: 1 });
    }
  }
  const dispatcher = new QueueDispatcher({ queues: [new Queue('q', new InMemoryQueueBroker())], taskLog: new TaskLog(new InMemoryTaskLogBroker()), tasks: [Chatty], logger: capture });
  const task = await dispatcher.enqueue(new Chatty({}));
  expect(lines.find((l) => l.message === 'halfway')?.fields).toEqual({ taskId: task.id, taskName: 'Chatty', step: 1 });
});
