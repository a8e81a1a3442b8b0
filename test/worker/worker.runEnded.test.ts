/**
 * A run whose code is over frees its slot while its result is written, on every broker a worker
 * consumes (memory, SQLite, PostgreSQL, MariaDB): the next task's claim goes out with the result
 * (on SQLite, in the same commit) instead of after it. The result writes are held back by the
 * test. Never more than `concurrency` tasks run at once, nor twice that many are in flight; a
 * message of a group (FIFO) keeps its slot until its outcome is known.
 */
import { InMemoryQueueBroker, InMemoryTaskLogBroker, Queue, QueueDispatcher, TaskLog, TaskStatus, Worker, silentLogger, type TaskLogBroker } from '../../src';
import { type BrokerSetup, deliverySetups } from '../helpers/brokerSetups';
import { RecordRun, runs } from '../helpers/tasks';
import { until, wait } from '../helpers/wait';

const TASKS = [RecordRun];

/** Holds the ends of runs (status changes made under a claim) until let through, or all once opened. */
function holdRunEnds(broker: TaskLogBroker) {
  const pending: Array<() => void> = [];
  const gate = {
    pending,
    opened: false,
    letThrough: () => pending.splice(0).forEach((resolve) => resolve()),
    open() {
      gate.opened = true;
      gate.letThrough();
    },
  };
  const changeStatus = broker.changeStatus.bind(broker);
  broker.changeStatus = async (id, change) => {
    if (change.holder && !gate.opened) await new Promise<void>((resolve) => pending.push(resolve));
    return changeStatus(id, change);
  };
  return gate;
}

/** Workers a test started: stopped after it, whatever it asserted. */
const started: Worker[] = [];
function worker(dispatcher: QueueDispatcher, options: ConstructorParameters<typeof Worker>[1]): Worker {
  const made = new Worker(dispatcher, { idleMaxMs: 20, logger: silentLogger, ...options });
  started.push(made);
  return made;
}

describe.each(deliverySetups())('on %s', (_name, setup) => {
  let sut: BrokerSetup;
  let dispatcher: QueueDispatcher;
  let gate: ReturnType<typeof holdRunEnds>;
  beforeEach(async () => {
    sut = setup();
    dispatcher = new QueueDispatcher({ queues: [new Queue('q', sut.queueBroker)], taskLog: new TaskLog(sut.taskLogBroker), tasks: TASKS, logger: silentLogger });
    await dispatcher.initialize();
    gate = holdRunEnds(sut.taskLogBroker);
    runs.clear();
  });
  afterEach(async () => {
    gate.open();
    await Promise.all(started.splice(0).map((w) => w.stop()));
    await sut.cleanup();
  });

  test('the next task starts while a result is written; a third waits until one of them is written', async () => {
    const [first, second, third] = await dispatcher.enqueueMany([new RecordRun({ n: 1 }), new RecordRun({ n: 2 }), new RecordRun({ n: 3 })]);
    const consumer = worker(dispatcher, { concurrency: 1, prefetch: 2 });
    const running = consumer.run();
    await until(() => runs.get(second.id) === 1, 5_000, 'the second task run');
    // The first result is still held: the second task was claimed and run meanwhile.
    expect(await dispatcher.taskLog.getStatus(first.id)).toBe(TaskStatus.Running);
    await until(() => gate.pending.length === 2, 5_000, 'both results written');
    // Two deliveries in flight at concurrency 1, both past their code: the third waits.
    await wait(100);
    expect(runs.get(third.id)).toBeUndefined();

    gate.letThrough();
    await until(() => runs.get(third.id) === 1, 5_000, 'the third task run');
    await until(() => gate.pending.length === 1, 5_000, 'the third result written');
    gate.letThrough();
    await until(async () => (await sut.queueBroker.count('q')) === 0, 5_000, 'every message acknowledged');
    await consumer.stop();
    const stats = await running;
    expect(stats.completed).toBe(3);
    for (const task of [first, second, third]) {
      expect(runs.get(task.id)).toBe(1);
      expect(await dispatcher.taskLog.getStatus(task.id)).toBe(TaskStatus.Completed);
    }
  });

  test('a stop waits for the results being written', async () => {
    const task = await dispatcher.enqueue(new RecordRun({ n: 1 }));
    const consumer = worker(dispatcher, { concurrency: 1 });
    const running = consumer.run();
    await until(() => gate.pending.length === 1, 5_000, 'the result written');
    let stopped = false;
    const stopping = consumer.stop().then(() => (stopped = true));
    await wait(50);
    expect(stopped).toBe(false);
    gate.letThrough();
    await stopping;
    expect((await running).completed).toBe(1);
    expect(await dispatcher.taskLog.getStatus(task.id)).toBe(TaskStatus.Completed);
  });

  test('limit counts the tasks whose results are being written: no more runs than the limit', async () => {
    const tasks = await dispatcher.enqueueMany([1, 2, 3].map((n) => new RecordRun({ n })));
    const consumer = worker(dispatcher, { concurrency: 1, prefetch: 2, limit: 2 });
    const running = consumer.run();
    await until(() => gate.pending.length === 2, 5_000, 'two results written');
    gate.letThrough();
    expect((await running).completed).toBe(2);
    expect(tasks.filter((t) => runs.get(t.id) === 1)).toHaveLength(2);
    expect(runs.size).toBe(2);
  });
});

test('a message of a group (FIFO) keeps its slot until its result is written: the next of its group waits', async () => {
  const broker = new InMemoryQueueBroker({ sync: false, receive: 5 });
  const receive = broker.receive.bind(broker);
  broker.receive = async (...args) => (await receive(...args)).map((message) => ({ ...message, groupId: 'g' }));
  const logBroker = new InMemoryTaskLogBroker();
  const dispatcher = new QueueDispatcher({ queues: [new Queue('q', broker)], taskLog: new TaskLog(logBroker), tasks: TASKS, logger: silentLogger });
  const gate = holdRunEnds(logBroker);
  runs.clear();
  try {
    const [first, second] = await dispatcher.enqueueMany([new RecordRun({ n: 1 }), new RecordRun({ n: 2 })]);
    const consumer = worker(dispatcher, { concurrency: 1, prefetch: 1 });
    const running = consumer.run();
    await until(() => gate.pending.length === 1, 5_000, 'the first result written');
    await wait(100);
    expect(runs.get(second.id)).toBeUndefined();
    gate.letThrough();
    await until(() => gate.pending.length === 1 && runs.get(second.id) === 1, 5_000, 'the second task run');
    gate.letThrough();
    await consumer.stop();
    expect((await running).completed).toBe(2);
    expect(runs.get(first.id)).toBe(1);
  } finally {
    gate.open();
    await Promise.all(started.splice(0).map((w) => w.stop()));
  }
});
