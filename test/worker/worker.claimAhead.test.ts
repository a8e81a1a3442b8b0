/**
 * Worker option `claimAhead`, on every broker a worker consumes (memory, SQLite, PostgreSQL,
 * MariaDB): the tasks of a receive are claimed in the log when their messages come, not each when
 * a slot is free. A claimed task waiting for its slot shows running under this worker and keeps
 * its lease; a stop gives it back unrun, as if never claimed; a forced cancel meanwhile keeps it
 * from running; two workers still run each task once; a task with prerequisites is not claimed
 * before they are decided.
 */
import { AbstractTask, Queue, QueueDispatcher, TaskLog, TaskStatus, Worker, silentLogger, type TaskContext } from '../../src';
import { type BrokerSetup, deliverySetups } from '../helpers/brokerSetups';
import { RecordRun, runs } from '../helpers/tasks';
import { until, wait } from '../helpers/wait';

/** Holds every run until `opened` resolves: the slot stays taken, what comes after waits. */
let open: () => void = () => undefined;
let opened: Promise<void> = Promise.resolve();
class Blocker extends AbstractTask<Record<string, never>> {
  static override taskName = 'Blocker';
  async run(ctx: TaskContext) {
    runs.set(ctx.taskId, (runs.get(ctx.taskId) ?? 0) + 1);
    await opened;
  }
}

const started: Worker[] = [];
function worker(dispatcher: QueueDispatcher, options: ConstructorParameters<typeof Worker>[1]): Worker {
  const made = new Worker(dispatcher, { idleMaxMs: 20, logger: silentLogger, claimAhead: true, ...options });
  started.push(made);
  return made;
}

describe.each(deliverySetups())('on %s', (_name, setup) => {
  let sut: BrokerSetup;
  let dispatcher: QueueDispatcher;
  beforeEach(async () => {
    sut = setup();
    dispatcher = new QueueDispatcher({ queues: [new Queue('q', sut.queueBroker)], taskLog: new TaskLog(sut.taskLogBroker), tasks: [RecordRun, Blocker], logger: silentLogger });
    await dispatcher.initialize();
    runs.clear();
    opened = new Promise<void>((resolve) => (open = resolve));
  });
  afterEach(async () => {
    open();
    await Promise.all(started.splice(0).map((w) => w.stop()));
    await sut.cleanup();
  });

  const statusOf = async (id: string) => (await dispatcher.taskLog.get(id))!;

  test('every task runs once, claimed when its message came', async () => {
    const tasks = await dispatcher.enqueueMany(Array.from({ length: 30 }, (_, n) => new RecordRun({ n })));
    const consumer = worker(dispatcher, { concurrency: 2, prefetch: 6 });
    const running = consumer.run();
    await until(async () => (await sut.queueBroker.count('q')) === 0, 10_000, 'every message acknowledged');
    await consumer.stop();
    expect((await running).completed).toBe(30);
    for (const task of tasks) {
      expect(runs.get(task.id)).toBe(1);
      const entry = await statusOf(task.id);
      expect(entry.status).toBe(TaskStatus.Completed);
      expect(entry.attempts).toBe(1);
    }
  });

  test('a claimed task waiting for its slot shows running; a stop gives it back unrun, its attempt undone, and the next worker runs it once', async () => {
    const [blocker, ...waiting] = await dispatcher.enqueueMany([new Blocker({}), new RecordRun({ n: 1 }), new RecordRun({ n: 2 }), new RecordRun({ n: 3 })]);
    const first = worker(dispatcher, { concurrency: 1, prefetch: 3 });
    const running = first.run();
    await until(() => runs.get(blocker.id) === 1, 5_000, 'the blocking task started');
    await until(async () => (await Promise.all(waiting.map((t) => statusOf(t.id)))).every((e) => e.status === TaskStatus.Running), 5_000, 'the waiting tasks claimed');
    for (const task of waiting) {
      const entry = await statusOf(task.id);
      expect(entry).toMatchObject({ workerId: first.id, attempts: 1 });
      expect(runs.get(task.id)).toBeUndefined();
    }

    const stopping = first.stop();
    await until(async () => (await Promise.all(waiting.map((t) => statusOf(t.id)))).every((e) => e.status === TaskStatus.Enqueued), 5_000, 'the waiting tasks given back');
    for (const task of waiting) expect(await statusOf(task.id)).toMatchObject({ attempts: 0, stalls: 0, workerId: null, leaseUntil: null });
    open();
    await stopping;
    expect((await running).completed).toBe(1);

    const second = worker(dispatcher, { concurrency: 1, claimAhead: false });
    const runningSecond = second.run();
    await until(async () => (await sut.queueBroker.count('q')) === 0, 10_000, 'the given-back tasks run');
    await second.stop();
    expect((await runningSecond).completed).toBe(3);
    for (const task of waiting) {
      expect(runs.get(task.id)).toBe(1);
      expect(await statusOf(task.id)).toMatchObject({ status: TaskStatus.Completed, attempts: 1, stalls: 0, workerId: second.id });
    }
  });

  test('the lease of a claimed task waiting for its slot is renewed, and it runs once, without a stall', async () => {
    const [blocker, waitingTask] = await dispatcher.enqueueMany([new Blocker({}), new RecordRun({ n: 1 })]);
    const consumer = worker(dispatcher, { concurrency: 1, prefetch: 1, leaseMs: 300 });
    const running = consumer.run();
    await until(() => runs.get(blocker.id) === 1, 5_000, 'the blocking task started');
    await until(async () => (await statusOf(waitingTask.id)).status === TaskStatus.Running, 5_000, 'the waiting task claimed');
    const firstLease = (await statusOf(waitingTask.id)).leaseUntil!.getTime();
    // Three leases long: unrenewed, it would have run out twice over.
    await wait(900);
    const later = await statusOf(waitingTask.id);
    expect(later.status).toBe(TaskStatus.Running);
    expect(later.leaseUntil!.getTime()).toBeGreaterThan(firstLease + 300);
    expect(runs.get(waitingTask.id)).toBeUndefined();

    open();
    await until(async () => (await statusOf(waitingTask.id)).status === TaskStatus.Completed, 5_000, 'the waiting task run');
    await consumer.stop();
    expect((await running).completed).toBe(2);
    expect(runs.get(waitingTask.id)).toBe(1);
    expect(await statusOf(waitingTask.id)).toMatchObject({ attempts: 1, stalls: 0 });
  });

  test('a claimed task cancelled by force while it waits for its slot is not run', async () => {
    const [blocker, cancelled, kept] = await dispatcher.enqueueMany([new Blocker({}), new RecordRun({ n: 1 }), new RecordRun({ n: 2 })]);
    const consumer = worker(dispatcher, { concurrency: 1, prefetch: 2, leaseMs: 300 });
    const running = consumer.run();
    await until(() => runs.get(blocker.id) === 1, 5_000, 'the blocking task started');
    await until(async () => (await statusOf(cancelled.id)).status === TaskStatus.Running, 5_000, 'the waiting tasks claimed');
    await dispatcher.taskLog.cancel(cancelled.id, { force: true });
    // A few lease renewals (every 100 ms): one of them finds the claim gone.
    await wait(500);
    open();
    await until(async () => (await statusOf(kept.id)).status === TaskStatus.Completed, 5_000, 'the other task run');
    await until(async () => (await sut.queueBroker.count('q')) === 0, 5_000, 'every message settled');
    await consumer.stop();
    await running;
    expect(runs.get(cancelled.id)).toBeUndefined();
    expect((await statusOf(cancelled.id)).status).toBe(TaskStatus.Cancelled);
    expect(runs.get(kept.id)).toBe(1);
  });

  test('two workers claiming ahead run every task once', async () => {
    const tasks = await dispatcher.enqueueMany(Array.from({ length: 60 }, (_, n) => new RecordRun({ n })));
    const consumers = [worker(dispatcher, { concurrency: 3, prefetch: 4 }), worker(dispatcher, { concurrency: 2, prefetch: 5 })];
    const running = consumers.map((c) => c.run());
    await until(async () => (await sut.queueBroker.count('q')) === 0, 15_000, 'every message acknowledged');
    await Promise.all(consumers.map((c) => c.stop()));
    const stats = await Promise.all(running);
    expect(stats[0].completed + stats[1].completed).toBe(60);
    for (const task of tasks) {
      expect(runs.get(task.id)).toBe(1);
      expect(await statusOf(task.id)).toMatchObject({ status: TaskStatus.Completed, attempts: 1 });
    }
  });

  test('a task with prerequisites is not claimed before they are decided', async () => {
    const blocker = await dispatcher.enqueue(new Blocker({}));
    const dependent = await dispatcher.enqueue(new RecordRun({ n: 1 }), { after: [blocker.id] });
    const consumer = worker(dispatcher, { concurrency: 1, prefetch: 2 });
    const running = consumer.run();
    await until(() => runs.get(blocker.id) === 1, 5_000, 'the blocking task started');
    await wait(200);
    expect([TaskStatus.Enqueued, TaskStatus.Dequeued]).toContain((await statusOf(dependent.id)).status);
    expect((await statusOf(dependent.id)).attempts).toBe(0);
    open();
    await until(async () => (await statusOf(dependent.id)).status === TaskStatus.Completed, 10_000, 'the dependent task run');
    await consumer.stop();
    await running;
    expect(runs.get(dependent.id)).toBe(1);
  });

  test('claimAhead must be a boolean', () => {
    expect(() => new Worker(dispatcher, { claimAhead: 'yes' as unknown as boolean, logger: silentLogger })).toThrow(/claimAhead must be true or false/);
  });
});
