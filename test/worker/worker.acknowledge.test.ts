/**
 * A finished run frees its slot while its acknowledgement is under way, on every broker a worker
 * consumes (memory, SQLite, PostgreSQL, MariaDB): the acknowledgement is held back by the test,
 * standing for a slow DeleteMessageBatch or DELETE.
 */
import { Queue, QueueDispatcher, TaskLog, TaskStatus, Worker, silentLogger, type QueueBroker } from '../../src';
import { type BrokerSetup, deliverySetups } from '../helpers/brokerSetups';
import { RecordRun, runs } from '../helpers/tasks';
import { until, wait } from '../helpers/wait';

const TASKS = [RecordRun];

/** Holds the broker's acknowledgements until let through; the next `failures` of them fail. */
function holdAcknowledgements(broker: QueueBroker) {
  const pending: Array<() => void> = [];
  const gate = { pending, failures: 0, calls: 0, letThrough: () => pending.splice(0).forEach((resolve) => resolve()) };
  const acknowledge = broker.acknowledge.bind(broker);
  broker.acknowledge = async (queue, message) => {
    gate.calls++;
    await new Promise<void>((resolve) => pending.push(resolve));
    if (gate.failures > 0) {
      gate.failures--;
      throw new Error('connection reset');
    }
    return acknowledge(queue, message);
  };
  return gate;
}

/** A logger that keeps its warnings. */
function warningsLogger() {
  const warnings: string[] = [];
  return { warnings, logger: { ...silentLogger, warn: (message: string) => void warnings.push(message) } };
}

describe.each(deliverySetups())('on %s', (_name, setup) => {
  let sut: BrokerSetup;
  let dispatcher: QueueDispatcher;
  let gate: ReturnType<typeof holdAcknowledgements>;
  beforeEach(async () => {
    sut = setup();
    dispatcher = new QueueDispatcher({ queues: [new Queue('q', sut.queueBroker)], taskLog: new TaskLog(sut.taskLogBroker), tasks: TASKS, logger: silentLogger });
    await dispatcher.initialize();
    gate = holdAcknowledgements(sut.queueBroker);
    runs.clear();
  });
  afterEach(async () => {
    gate.letThrough();
    await sut.cleanup();
  });
  /** Lets every acknowledgement through as it comes, until the queue is empty. */
  const untilDeleted = (timeoutMs: number, what: string) =>
    until(
      async () => {
        gate.letThrough();
        return (await sut.queueBroker.count('q')) === 0;
      },
      timeoutMs,
      what,
    );

  test('a finished run frees its slot while its acknowledgement is under way: the next task starts meanwhile', async () => {
    const [first, second] = await dispatcher.enqueueMany([new RecordRun({ n: 1 }), new RecordRun({ n: 2 })]);
    const worker = new Worker(dispatcher, { concurrency: 1, idleMaxMs: 20, logger: silentLogger });
    const running = worker.run();
    await until(async () => runs.get(second.id) === 1, 5_000, 'the second task run');
    // Both ran at concurrency 1 while no acknowledgement had gone through. The second starts as
    // the first's result is written (see Worker.busySlots): its acknowledgement follows that write.
    await until(() => gate.pending.length === 2, 5_000, 'both acknowledgements sent');
    expect(await sut.queueBroker.count('q')).toBe(2);
    expect(await dispatcher.taskLog.getStatus(first.id)).toBe(TaskStatus.Completed);

    let stopped = false;
    const stopping = worker.stop().then(() => (stopped = true));
    await wait(50);
    expect(stopped).toBe(false); // the stop waits for the acknowledgements under way
    gate.letThrough();
    await stopping;
    await running;
    expect(await sut.queueBroker.count('q')).toBe(0);
    expect(runs.get(first.id)).toBe(1);
  });

  test('a message stays leased while its acknowledgement is under way: another consumer does not get it', async () => {
    const task = await dispatcher.enqueue(new RecordRun({ n: 1 }));
    const worker = new Worker(dispatcher, { concurrency: 1, leaseMs: 300, idleMaxMs: 20, logger: silentLogger });
    const running = worker.run();
    await until(() => gate.pending.length === 1, 5_000, 'the acknowledgement sent');
    // Several leases long: the renewal keeps the message the worker's.
    await wait(1_000);
    expect(await sut.secondQueueBroker.receive('q', 10, 1_000)).toEqual([]);
    gate.letThrough();
    await worker.stop();
    await running;
    expect(runs.get(task.id)).toBe(1);
    expect(await sut.queueBroker.count('q')).toBe(0);
  });

  test('an acknowledgement that fails is tried again after 100 ms: the message is deleted, the failure logged once with the retry', async () => {
    const task = await dispatcher.enqueue(new RecordRun({ n: 1 }));
    gate.failures = 1;
    const { warnings, logger } = warningsLogger();
    // A lease far longer than the test: only the retry can delete the message in time.
    const worker = new Worker(dispatcher, { concurrency: 1, leaseMs: 60_000, idleMaxMs: 20, logger });
    const running = worker.run();
    await untilDeleted(5_000, 'the message deleted by the second try');
    expect(gate.calls).toBe(2);
    expect(warnings).toEqual([expect.stringMatching(/^could not acknowledge message .* connection reset; trying again in 100 ms$/)]);
    await worker.stop();
    await running;
    expect(runs.get(task.id)).toBe(1);
  });

  test('an acknowledgement that keeps failing leaves the message to come back, and it is settled without a second run', async () => {
    const task = await dispatcher.enqueue(new RecordRun({ n: 1 }));
    gate.failures = 4;
    const { warnings, logger } = warningsLogger();
    const worker = new Worker(dispatcher, { concurrency: 1, leaseMs: 300, idleMaxMs: 20, logger });
    const running = worker.run();
    await until(() => gate.pending.length === 1, 5_000, 'the acknowledgement sent');
    // The lease ends, the message comes back, the duplicate guard acknowledges it.
    await untilDeleted(10_000, 'the message settled');
    await worker.stop();
    await running;
    expect(runs.get(task.id)).toBe(1);
    expect(await dispatcher.taskLog.getStatus(task.id)).toBe(TaskStatus.Completed);
    // Four tries (100, 500 and 2,000 ms apart), each failure said once with what comes next.
    const acknowledgeWarnings = warnings.filter((w) => w.startsWith('could not acknowledge'));
    expect(acknowledgeWarnings.map((w) => w.replace(/^.*connection reset; /, ''))).toEqual([
      'trying again in 100 ms',
      'trying again in 500 ms',
      'trying again in 2000 ms',
      'it comes back when its lease ends and is settled without a run',
    ]);
  });
});
