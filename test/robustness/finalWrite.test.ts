/**
 * A run's result survives a log that fails for a while when the run ends: the write is retried
 * while the lease is held, so the task is not run again and not blamed on a dead worker (issue 6, point 4).
 */
import { Queue, QueueDispatcher, TaskLog, TaskStatus, Worker, silentLogger } from '../../src';
import { type BrokerSetup, deliverySetups } from '../helpers/brokerSetups';
import { RecordRun, runs } from '../helpers/tasks';

describe.each(deliverySetups())('on %s', (_name, setup) => {
  let sut: BrokerSetup;
  let dispatcher: QueueDispatcher;
  beforeEach(async () => {
    sut = setup();
    dispatcher = new QueueDispatcher({ queues: [new Queue('q', sut.queueBroker)], taskLog: new TaskLog(sut.taskLogBroker), tasks: [RecordRun], logger: silentLogger });
    await dispatcher.initialize();
    runs.clear();
  });
  afterEach(async () => {
    jest.restoreAllMocks();
    await dispatcher.close();
    await sut.cleanup();
  });

  test('the log refuses the final write for 4 s: the result is written once it is back, the task ran once', async () => {
    const task = await dispatcher.enqueue(new RecordRun({ n: 1 }));
    const changeStatus = sut.taskLogBroker.changeStatus.bind(sut.taskLogBroker);
    const downUntil = { at: Infinity };
    jest.spyOn(sut.taskLogBroker, 'changeStatus').mockImplementation(async (id, change) => {
      if (downUntil.at === Infinity) downUntil.at = Date.now() + 4_000;
      if (Date.now() < downUntil.at) throw new Error('disk I/O error');
      return changeStatus(id, change);
    });
    const stats = await new Worker(dispatcher, { limit: 1, leaseMs: 6_000, logger: silentLogger }).run();
    expect(stats).toMatchObject({ completed: 1, failed: 0 });
    expect(runs.get(task.id)).toBe(1);
    expect(await dispatcher.taskLog.get(task.id)).toMatchObject({ status: TaskStatus.Completed, attempts: 1, stalls: 0 });
    expect(await dispatcher.getQueue('q').count()).toBe(0);
  }, 20_000);
});
