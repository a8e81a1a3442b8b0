import { InMemoryQueueBroker, InMemoryTaskLogBroker, Queue, QueueDispatcher, TaskLog, TaskStatus, Worker, silentLogger, type ReceivedMessage } from '../../src';
import { RecordRun, runs } from '../helpers/tasks';

const TASKS = [RecordRun];
import { until, wait } from '../helpers/wait';

/** Acknowledgements wait until the test lets them through (a DeleteMessageBatch on a slow link). */
class SlowAckBroker extends InMemoryQueueBroker {
  readonly pending: Array<() => void> = [];
  failNext = false;
  override async acknowledge(queue: string, message: ReceivedMessage): Promise<void> {
    await new Promise<void>((resolve) => this.pending.push(resolve));
    if (this.failNext) {
      this.failNext = false;
      throw new Error('connection reset');
    }
    return super.acknowledge(queue, message);
  }
  letThrough(): void {
    for (const resolve of this.pending.splice(0)) resolve();
  }
}

function setup() {
  const broker = new SlowAckBroker({ sync: false });
  const dispatcher = new QueueDispatcher({ queues: [new Queue('q', broker)], taskLog: new TaskLog(new InMemoryTaskLogBroker()), tasks: TASKS, logger: silentLogger });
  runs.clear();
  return { broker, dispatcher };
}

test('a finished run frees its slot while its acknowledgement is under way: the next task starts meanwhile', async () => {
  const { broker, dispatcher } = setup();
  const [first, second] = await dispatcher.enqueueMany([new RecordRun({ n: 1 }), new RecordRun({ n: 2 })]);
  const worker = new Worker(dispatcher, { concurrency: 1, idleMaxMs: 20, logger: silentLogger });
  const running = worker.run();
  await until(async () => runs.get(second.id) === 1, 5_000, 'the second task run');
  // Both ran at concurrency 1 while no acknowledgement had gone through.
  expect(broker.pending.length).toBe(2);
  expect(await broker.count('q')).toBe(2);
  expect(await dispatcher.taskLog.getStatus(first.id)).toBe(TaskStatus.Completed);

  let stopped = false;
  const stopping = worker.stop().then(() => (stopped = true));
  await wait(50);
  expect(stopped).toBe(false); // the stop waits for the acknowledgements under way
  broker.letThrough();
  await stopping;
  await running;
  expect(await broker.count('q')).toBe(0);
  expect(runs.get(first.id)).toBe(1);
});

test('a message stays leased while its acknowledgement is under way: it is not delivered again meanwhile', async () => {
  const { broker, dispatcher } = setup();
  const task = await dispatcher.enqueue(new RecordRun({ n: 1 }));
  const worker = new Worker(dispatcher, { concurrency: 1, leaseMs: 150, idleMaxMs: 20, logger: silentLogger });
  const running = worker.run();
  await until(async () => broker.pending.length === 1, 5_000, 'the acknowledgement sent');
  // Several leases long: the renewal keeps the message ours, no other worker gets it.
  await wait(500);
  expect(await broker.receive('q', 10, 1_000)).toEqual([]);
  broker.letThrough();
  await worker.stop();
  await running;
  expect(runs.get(task.id)).toBe(1);
  expect(await broker.count('q')).toBe(0);
});

test('an acknowledgement that fails leaves the message to come back, and it is settled without a second run', async () => {
  const { broker, dispatcher } = setup();
  const task = await dispatcher.enqueue(new RecordRun({ n: 1 }));
  broker.failNext = true;
  const worker = new Worker(dispatcher, { concurrency: 1, leaseMs: 150, idleMaxMs: 20, logger: silentLogger });
  const running = worker.run();
  await until(async () => broker.pending.length === 1, 5_000, 'the acknowledgement sent');
  broker.letThrough();
  // The lease ends, the message comes back, the duplicate guard acknowledges it.
  await until(
    async () => {
      broker.letThrough();
      return (await broker.count('q')) === 0;
    },
    5_000,
    'the message settled',
  );
  await worker.stop();
  await running;
  expect(runs.get(task.id)).toBe(1);
  expect(await dispatcher.taskLog.getStatus(task.id)).toBe(TaskStatus.Completed);
});
