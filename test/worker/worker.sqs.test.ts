/**
 * Workers on SQS (the fauxqs server jest starts): leases kept up past the visibility timeout,
 * dead letters, FIFO order per group, a long poll cut short by stop, an endpoint that goes away.
 */
import { createServer, type Server, type Socket, connect } from 'node:net';
import { AbstractTask, InMemoryQueueBroker, InMemoryTaskLogBroker, Queue, QueueDispatcher, TaskLog, type OutgoingMessage, type QueueBroker, TaskStatus, Worker, silentLogger, sweepLostTasks, type SqsQueueBroker, type SqsQueueBrokerOptions, type TaskContext } from '../../src';
import { sqsBroker, sqsEndpoint, uniquePrefix } from '../helpers/sqs';
import { RecordRun, Sleep, runs } from '../helpers/tasks';
import { until, wait } from '../helpers/wait';

jest.setTimeout(60_000);

/** Run order of Ordered tasks, and how many run at once. */
const order: number[] = [];
let running = 0;
let overlapped = false;
const failOnce = new Set<number>();

class Ordered extends AbstractTask<{ n: number; group?: string }> {
  static override taskName = 'Ordered';
  static override backoff = 0;
  override getMessageGroupId(params: { group?: string }): string | undefined {
    return params.group;
  }
  async run() {
    running++;
    if (running > 1) overlapped = true;
    await wait(20);
    running--;
    const n = this.getParameter('n');
    if (failOnce.delete(n)) throw new Error(`task ${n} fails once`);
    order.push(n);
  }
}

class AlwaysFails extends AbstractTask<Record<string, never>> {
  static override taskName = 'AlwaysFails';
  static override backoff = 0;
  async run(ctx: TaskContext) {
    throw new Error(`failure on attempt ${ctx.attempt}`);
  }
}

interface Setup {
  broker: SqsQueueBroker;
  dispatcher: QueueDispatcher;
}

const setups: Setup[] = [];

async function setup(options: SqsQueueBrokerOptions = {}): Promise<Setup> {
  const broker = sqsBroker({ queuePrefix: uniquePrefix(), ...options });
  const dispatcher = new QueueDispatcher({
    queues: [new Queue('jobs', broker)],
    taskLog: new TaskLog(new InMemoryTaskLogBroker()),
    tasks: [RecordRun, Sleep, Ordered, AlwaysFails],
    logger: silentLogger,
  });
  await dispatcher.initialize();
  const s = { broker, dispatcher };
  setups.push(s);
  return s;
}

beforeEach(() => {
  runs.clear();
  order.length = 0;
  running = 0;
  overlapped = false;
  failOnce.clear();
});

afterEach(async () => {
  for (const { dispatcher } of setups.splice(0)) await dispatcher.close();
});

test('a task longer than the visibility timeout runs once: the worker keeps extending it', async () => {
  const { broker, dispatcher } = await setup({ visibilityTimeout: 1 });
  const task = await dispatcher.enqueue(new Sleep({ ms: 3_500 }));
  // Two workers: the second would get the message the moment its visibility lapsed.
  const workers = [0, 1].map(() => new Worker(dispatcher, { leaseMs: 1_000, logger: silentLogger }));
  const done = Promise.all(workers.map((w) => w.run()));
  await until(async () => (await dispatcher.taskLog.getStatus(task.id)) === TaskStatus.Completed, 15_000, 'the task to complete');
  await Promise.all(workers.map((w) => w.stop()));
  const stats = await done;
  expect(stats.reduce((n, s) => n + s.completed, 0)).toBe(1);
  expect(await dispatcher.taskLog.get(task.id)).toMatchObject({ status: TaskStatus.Completed, attempts: 1 });
  await until(async () => (await broker.count('jobs')) === 0, 5_000, 'the message to be deleted');
});

test('a task failing past maxReceiveCount lands in the dead-letter queue and failed in the log, saying why', async () => {
  const { broker, dispatcher } = await setup({ maxReceiveCount: 2 });
  const task = await dispatcher.enqueue(new AlwaysFails({}), { maxAttempts: 5 });
  const worker = new Worker(dispatcher, { leaseMs: 1_000, idleMaxMs: 50, logger: silentLogger });
  const done = worker.run();
  await until(async () => (await dispatcher.taskLog.getStatus(task.id)) === TaskStatus.Failed, 15_000, 'the task to fail');
  // The message went back for SQS to move on its next receive.
  await until(async () => (await broker.deadLetteredTaskIds('jobs', 10)).includes(task.id), 10_000, 'the message in the dead-letter queue');
  await worker.stop();
  await done;
  const entry = await dispatcher.taskLog.get(task.id);
  expect(entry).toMatchObject({ status: TaskStatus.Failed, attempts: 2 });
  expect(entry?.report?.message).toMatch(/failure on attempt 2 \(not retried: this was the message's last delivery; jobs's broker moves it to its dead-letter queue after 2 receives\)/);
  expect(await broker.count('jobs')).toBe(0);
});

test('a worker that dies on the last delivery: SQS dead-letters the message and the sweep fails the task', async () => {
  const { broker, dispatcher } = await setup({ maxReceiveCount: 1 });
  const task = await dispatcher.enqueue(new RecordRun({ n: 1 }));
  // The only delivery, taken by a worker that dies: the message lease and the log lease lapse.
  const [message] = await broker.receive('jobs', 1, 1_000);
  expect(message.taskId).toBe(task.id);
  await dispatcher.taskLog.claim(task.id, 'dead-worker', 1_000);
  await wait(1_300);
  // The next receive makes SQS move it (received once already, maxReceiveCount 1).
  expect(await broker.receive('jobs', 10, 1_000)).toEqual([]);
  expect(await sweepLostTasks(dispatcher, { olderThanMs: 60_000 })).toEqual([task.id]);
  const entry = await dispatcher.taskLog.get(task.id);
  expect(entry?.status).toBe(TaskStatus.Failed);
  expect(entry?.report?.message).toMatch(/^Dead-lettered: queue jobs's broker moved its message to the dead-letter queue after 1 receives/);
  // A second sweep finds nothing more to do.
  expect(await sweepLostTasks(dispatcher, { olderThanMs: 60_000 })).toEqual([]);
  expect(runs.size).toBe(0);
});

test('a dead-lettered duplicate does not fail a task another copy is running', async () => {
  const { broker, dispatcher } = await setup({ maxReceiveCount: 1 });
  const task = await dispatcher.enqueue(new RecordRun({ n: 1 }));
  const [message] = await broker.receive('jobs', 1, 1_000);
  // A live run of the task elsewhere, holding its lease.
  await dispatcher.taskLog.claim(task.id, 'live-worker', 60_000);
  await wait(1_300);
  await broker.receive('jobs', 10, 1_000);
  expect(message.taskId).toBe(task.id);
  expect(await sweepLostTasks(dispatcher, { olderThanMs: 60_000 })).toEqual([]);
  expect(await dispatcher.taskLog.getStatus(task.id)).toBe(TaskStatus.Running);
});

describe('FIFO', () => {
  test('tasks of one group run one at a time, in order, across workers and retries', async () => {
    const { dispatcher } = await setup({ fifo: true });
    failOnce.add(3);
    await dispatcher.enqueueMany(Array.from({ length: 8 }, (_, i) => new Ordered({ n: i, group: 'g' })), { maxAttempts: 2 });
    const workers = [0, 1].map(() => new Worker(dispatcher, { concurrency: 4, prefetch: 6, leaseMs: 2_000, idleMaxMs: 50, logger: silentLogger }));
    const done = Promise.all(workers.map((w) => w.run()));
    await until(() => order.length === 8, 30_000, 'all eight tasks');
    await Promise.all(workers.map((w) => w.stop()));
    await done;
    expect(order).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(overlapped).toBe(false);
  });

  test('a receive that brings several messages of a group (as real SQS does): the worker runs them in order, one at a time', async () => {
    // fauxqs hands out one message of a group at a time; AWS may hand out several, in order.
    // A memory broker that keeps groups the same way shows what the worker does with them.
    const memory = new InMemoryQueueBroker({ sync: false, receive: 10 });
    const groups = new Map<string, string>();
    const grouping: QueueBroker = Object.assign(Object.create(memory) as QueueBroker, {
      pushMany: (queue: string, messages: readonly OutgoingMessage[]) => {
        for (const m of messages) if (m.groupId) groups.set(m.taskId, m.groupId);
        return memory.pushMany(queue, messages);
      },
      receive: async (queue: string, max: number, leaseMs: number) =>
        (await memory.receive(queue, max, leaseMs)).map((m) => ({ ...m, groupId: groups.get(m.taskId ?? '') })),
    });
    const dispatcher = new QueueDispatcher({ queues: [new Queue('jobs', grouping)], taskLog: new TaskLog(new InMemoryTaskLogBroker()), tasks: [Ordered], logger: silentLogger });
    failOnce.add(3);
    await dispatcher.enqueueMany(Array.from({ length: 8 }, (_, i) => new Ordered({ n: i, group: 'g' })), { maxAttempts: 2 });
    const worker = new Worker(dispatcher, { concurrency: 4, prefetch: 6, leaseMs: 2_000, idleMaxMs: 20, logger: silentLogger });
    const done = worker.run();
    await until(() => order.length === 8, 10_000, 'all eight tasks');
    await worker.stop();
    await done;
    expect(order).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(overlapped).toBe(false);
  });

  test('the default group is the task name; groupId and getMessageGroupId choose another', async () => {
    const { broker, dispatcher } = await setup({ fifo: true });
    await dispatcher.enqueue(new RecordRun({ n: 1 }));
    await dispatcher.enqueue(new RecordRun({ n: 2 }), { groupId: 'customer-42' });
    await dispatcher.enqueue(new Ordered({ n: 3, group: 'from-hook' }));
    const groups = [];
    for (let i = 0; i < 3; i++) {
      const got = await broker.receive('jobs', 10, 5_000);
      groups.push(...got.map((m) => m.groupId));
    }
    expect(groups.sort()).toEqual(['RecordRun', 'customer-42', 'from-hook']);
  });

  test('a delayed task is refused on a FIFO queue, saying why', async () => {
    const { dispatcher } = await setup({ fifo: true });
    await expect(dispatcher.enqueue(new RecordRun({ n: 1 }), { delay: 5_000 })).rejects.toThrow(/FIFO queue .*\.fifo cannot delay a single message/);
    expect(await dispatcher.taskLog.search()).toEqual([]);
  });

  test('a bad groupId is refused at enqueue', async () => {
    const { dispatcher } = await setup({ fifo: true });
    await expect(dispatcher.enqueue(new RecordRun({ n: 1 }), { groupId: 'has space' })).rejects.toThrow(/groupId must be 1 to 128 printable ASCII characters/);
  });
});

test('stop cuts a long poll short', async () => {
  const { dispatcher } = await setup({ waitTimeSeconds: 20 });
  const worker = new Worker(dispatcher, { logger: silentLogger });
  const done = worker.run();
  await wait(500);
  const asked = Date.now();
  await worker.stop();
  await done;
  // Well under the 20 s the poll would otherwise last.
  expect(Date.now() - asked).toBeLessThan(10_000);
});

test('a payload over 256 KiB is refused before any call, saying how big and what to do', async () => {
  const { dispatcher, broker } = await setup();
  const big = 'x'.repeat(300 * 1024);
  await expect(dispatcher.enqueue(new RecordRun({ n: 1, big } as never))).rejects.toThrow(/is 300\.\d KiB as an SQS message; queue .* takes at most 256\.0 KiB\. Keep large data elsewhere \(S3, a database\)/);
  expect(await dispatcher.taskLog.search()).toEqual([]);
  expect(await broker.count('jobs')).toBe(0);
});

describe('an endpoint that goes away and comes back', () => {
  let proxy: Server | undefined;
  const sockets = new Set<Socket>();

  /** A TCP proxy to fauxqs on `port`: closing it is the endpoint going away. */
  function openProxy(port: number): Promise<number> {
    const target = new URL(sqsEndpoint());
    proxy = createServer((client) => {
      const upstream = connect(Number(target.port), target.hostname);
      for (const s of [client, upstream]) {
        sockets.add(s);
        s.on('close', () => sockets.delete(s));
        s.on('error', () => undefined);
      }
      client.pipe(upstream).pipe(client);
    });
    return new Promise((resolve) => proxy?.listen(port, '127.0.0.1', () => resolve((proxy?.address() as { port: number }).port)));
  }

  function closeProxy(): Promise<void> {
    for (const s of sockets) s.destroy();
    return new Promise((resolve) => (proxy ? proxy.close(() => resolve()) : resolve()));
  }

  afterEach(() => closeProxy());

  test('the worker survives it and runs what was enqueued meanwhile', async () => {
    const queuePrefix = uniquePrefix();
    const port = await openProxy(0);
    const { dispatcher } = await setup({ queuePrefix, endpoint: `http://127.0.0.1:${port}`, waitTimeSeconds: 1, maxAttempts: 2 });
    // A short lease: a message SQS handed to a poll whose connection died comes back soon.
    const worker = new Worker(dispatcher, { idleMaxMs: 200, leaseMs: 2_000, logger: silentLogger });
    const done = worker.run();
    const direct = new QueueDispatcher({ queues: [new Queue('jobs', sqsBroker({ queuePrefix }))], taskLog: dispatcher.taskLog, tasks: [RecordRun], logger: silentLogger });
    try {
      const first = await dispatcher.enqueue(new RecordRun({ n: 1 }));
      await until(async () => (await dispatcher.taskLog.getStatus(first.id)) === TaskStatus.Completed, 10_000, 'the first task');

      await closeProxy();
      // Enqueued straight to the server while the worker cannot reach it.
      const during = await direct.enqueueMany([new RecordRun({ n: 2 }), new RecordRun({ n: 3 })]);
      await wait(3_000);
      expect(worker.status).toBe('running');
      expect(runs.size).toBe(1);

      await openProxy(port);
      await until(async () => (await Promise.all(during.map((t) => dispatcher.taskLog.getStatus(t.id)))).every((s) => s === TaskStatus.Completed), 20_000, 'the tasks enqueued while it was away');
    } finally {
      await worker.stop();
      await done;
    }
    expect([...runs.values()]).toEqual([1, 1, 1]);
    await direct.getQueue('jobs').broker.close();
  });
});
