import Database from 'better-sqlite3';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  AbstractTask,
  Queue,
  QueueDispatcher,
  RdsQueueBroker,
  RdsTaskLogBroker,
  TaskLog,
  TaskStatus,
  Worker,
  silentLogger,
  type TaskContext,
  type WorkerEvents,
  type WorkerOptions,
} from '../../src';
import { type BrokerSetup, deliverySetups } from '../helpers/brokerSetups';
import { until, wait } from '../helpers/wait';

class Succeeds extends AbstractTask<{ n: number }> {
  static override taskName = 'Succeeds';
  run() {
    return { n: this.getParameter('n') };
  }
}

class Fails extends AbstractTask<Record<string, never>> {
  static override taskName = 'Fails';
  static override backoff = 30;
  run(): never {
    throw new Error('boom');
  }
}

class Reports extends AbstractTask<Record<string, never>> {
  static override taskName = 'Reports';
  async run(ctx: TaskContext) {
    await ctx.progress({ done: 1, of: 2 });
    return 'reported';
  }
}

const TASKS = [Succeeds, Fails, Reports];

type Heard = { [K in keyof WorkerEvents]: WorkerEvents[K][] };

/** Records every event the worker emits, in order, by name. */
function listen(worker: Worker): { heard: Heard; order: (keyof WorkerEvents)[] } {
  const heard: Heard = { active: [], completed: [], failed: [], retrying: [], stalled: [], progress: [], error: [], drained: [] };
  const order: (keyof WorkerEvents)[] = [];
  for (const name of Object.keys(heard) as (keyof WorkerEvents)[]) {
    worker.on(name, (...args: unknown[]) => {
      (heard[name] as unknown[][]).push(args);
      order.push(name);
    });
  }
  return { heard, order };
}

describe.each(deliverySetups())('Worker events on %s', (_name, setup) => {
  let sut: BrokerSetup;
  let dispatcher: QueueDispatcher;
  const workers: Worker[] = [];

  const start = (options: WorkerOptions = {}) => {
    const worker = new Worker(dispatcher, { idleMaxMs: 20, logger: silentLogger, ...options });
    workers.push(worker);
    const events = listen(worker);
    void worker.run();
    return { worker, ...events };
  };
  const ended = (ids: string[]) => async () => {
    for (const id of ids) {
      const status = await dispatcher.taskLog.getStatus(id);
      if (status !== TaskStatus.Completed && status !== TaskStatus.Failed) return false;
    }
    return true;
  };

  beforeEach(async () => {
    sut = setup();
    dispatcher = new QueueDispatcher({ queues: [new Queue('q', sut.queueBroker)], taskLog: new TaskLog(sut.taskLogBroker), tasks: TASKS, logger: silentLogger });
    await dispatcher.initialize();
  });

  afterEach(async () => {
    await Promise.all(workers.splice(0).map((w) => w.stop()));
    await dispatcher.close();
    await sut.cleanup();
  });

  test('active, completed, progress, retrying and failed carry the run they are about', async () => {
    const ok = await dispatcher.enqueue(new Succeeds({ n: 7 }));
    const reports = await dispatcher.enqueue(new Reports({}));
    const fails = await dispatcher.enqueue(new Fails({}), { maxAttempts: 2 });
    const { heard } = start();
    await until(ended([ok.id, reports.id, fails.id]), 10_000, 'the three tasks to end');
    await until(() => heard.failed.length === 1, 2_000, 'the failed event');

    const base = (id: string, taskName: string, attempt: number) => ({ taskId: id, taskName, queue: 'q', attempt });
    expect(heard.active.map(([e]) => e)).toEqual(expect.arrayContaining([base(ok.id, 'Succeeds', 1), base(reports.id, 'Reports', 1), base(fails.id, 'Fails', 1), base(fails.id, 'Fails', 2)]));
    expect(heard.active).toHaveLength(4);

    expect(heard.completed.map(([e]) => e)).toEqual(
      expect.arrayContaining([
        { ...base(ok.id, 'Succeeds', 1), durationMs: expect.any(Number), result: { n: 7 } },
        { ...base(reports.id, 'Reports', 1), durationMs: expect.any(Number), result: 'reported' },
      ]),
    );
    expect(heard.completed).toHaveLength(2);
    expect(heard.progress).toEqual([[{ taskId: reports.id, taskName: 'Reports', progress: { done: 1, of: 2 } }]]);
    expect(heard.retrying).toEqual([[{ ...base(fails.id, 'Fails', 1), durationMs: expect.any(Number), delayMs: 30, error: 'boom' }]]);
    expect(heard.failed).toEqual([[{ ...base(fails.id, 'Fails', 2), durationMs: expect.any(Number), error: 'boom' }]]);
    // The events say what the log says.
    expect(await dispatcher.taskLog.get(fails.id)).toMatchObject({ status: TaskStatus.Failed, attempts: 2 });
    expect(await dispatcher.taskLog.get(reports.id)).toMatchObject({ progress: { done: 1, of: 2 } });
    expect(heard.stalled).toEqual([]);
    expect(heard.error).toEqual([]);
  });

  test('stalled: a task whose worker died is taken over once its lease ran out', async () => {
    const task = await dispatcher.enqueue(new Succeeds({ n: 1 }));
    // A worker received it, claimed it with a short lease, and died.
    await sut.queueBroker.receive('q', 1, 100);
    expect(await dispatcher.taskLog.claim(task.id, 'dead', 100)).toMatchObject({ outcome: 'claimed', attempt: 1 });
    await wait(250);
    const { heard, order } = start();
    await until(() => heard.completed.length === 1, 10_000, 'the completed event');
    expect(heard.stalled).toEqual([[{ taskId: task.id, taskName: 'Succeeds', queue: 'q', stalls: 1 }]]);
    expect(heard.completed[0][0]).toMatchObject({ taskId: task.id, attempt: 2 });
    expect(order.indexOf('stalled')).toBeLessThan(order.indexOf('active'));
    expect(await dispatcher.taskLog.get(task.id)).toMatchObject({ status: TaskStatus.Completed, stalls: 1, attempts: 2 });
  });

  test('stalled fires on the takeover only: a retry of a task that stalled before is not a stall', async () => {
    const task = await dispatcher.enqueue(new Fails({}), { maxAttempts: 2 });
    await sut.queueBroker.receive('q', 1, 100);
    expect(await dispatcher.taskLog.claim(task.id, 'dead', 100)).toMatchObject({ outcome: 'claimed', attempt: 1, tookOver: false });
    await wait(250);
    const { heard } = start();
    await until(() => heard.failed.length === 1, 10_000, 'the failed event');
    // Taken over (attempt 2, stall 1: not counted against maxAttempts), failed, retried (attempt 3), failed.
    expect(heard.active.map(([e]) => e.attempt)).toEqual([2, 3]);
    expect(heard.stalled).toEqual([[{ taskId: task.id, taskName: 'Fails', queue: 'q', stalls: 1 }]]);
    expect(heard.retrying).toHaveLength(1);
    expect(await dispatcher.taskLog.get(task.id)).toMatchObject({ status: TaskStatus.Failed, stalls: 1, attempts: 3 });
  });

  test('failed without a run: an undecodable message fails with attempt 0 and no duration', async () => {
    await sut.queueBroker.push('q', { taskId: 'garbled-1', body: 'not a task message' });
    const { heard } = start();
    await until(() => heard.failed.length === 1, 10_000, 'the failed event');
    expect(heard.failed[0][0]).toEqual({ taskId: 'garbled-1', taskName: '(undecodable)', queue: 'q', attempt: 0, durationMs: 0, error: expect.stringMatching(/^Message could not be decoded/) });
    expect(heard.active).toEqual([]);
    expect(await dispatcher.taskLog.get('garbled-1')).toMatchObject({ status: TaskStatus.Failed });
  });

  test('drained: once each time the worker finds its queue empty after having work', async () => {
    const { heard, order } = start();
    await wait(150);
    expect(heard.drained).toHaveLength(0);
    const first = await dispatcher.enqueueMany([new Succeeds({ n: 1 }), new Succeeds({ n: 2 }), new Succeeds({ n: 3 })]);
    await until(() => heard.completed.length === 3 && heard.drained.length === 1, 10_000, 'three completions and the drain');
    // Polling on an empty queue does not drain it again.
    await wait(200);
    expect(heard.drained).toEqual([[]]);
    expect(order.indexOf('drained')).toBeGreaterThan(order.lastIndexOf('active'));
    expect(first.every((t) => t.isEnqueued())).toBe(true);
    await dispatcher.enqueue(new Succeeds({ n: 4 }));
    await until(() => heard.completed.length === 4 && heard.drained.length === 2, 10_000, 'the second drain');
  });

  test('a listener that throws breaks neither the run nor the worker', async () => {
    const worker = new Worker(dispatcher, { idleMaxMs: 20, logger: silentLogger });
    workers.push(worker);
    worker.on('active', () => {
      throw new Error('listener bug');
    });
    const task = await dispatcher.enqueue(new Succeeds({ n: 1 }));
    void worker.run();
    await until(ended([task.id]), 10_000, 'the task to end');
    expect(await dispatcher.taskLog.get(task.id)).toMatchObject({ status: TaskStatus.Completed, attempts: 1 });
  });
});

describe('Worker error event (SQLite)', () => {
  let dir: string;
  let dispatcher: QueueDispatcher;
  let broker: RdsQueueBroker;

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'taskq-events-'));
    const connection = `sqlite:${join(dir, 'q.db')}`;
    broker = new RdsQueueBroker({ connection, table: 'messages' });
    dispatcher = new QueueDispatcher({ queues: [new Queue('q', broker)], taskLog: new TaskLog(new RdsTaskLogBroker({ connection })), tasks: TASKS, logger: silentLogger });
    await dispatcher.initialize();
  });

  afterEach(async () => {
    await dispatcher.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('a broker failure is an error event; a worker nobody listens to for errors keeps going', async () => {
    const observed = new Worker(dispatcher, { idleMaxMs: 20, logger: silentLogger });
    const unobserved = new Worker(dispatcher, { idleMaxMs: 20, logger: silentLogger });
    const errors: Error[] = [];
    observed.on('error', (error) => errors.push(error));
    // The queue's table is gone (a database reset under the workers): every receive fails.
    const db = new Database(join(dir, 'q.db'));
    db.exec('DROP TABLE messages');
    db.close();
    const runs = [observed.run(), unobserved.run()];
    await until(() => errors.length >= 1, 10_000, 'an error event');
    expect(errors[0]).toBeInstanceOf(Error);
    expect(errors[0].message).toMatch(/receive from queue q failed/);
    // Back: both workers still run, and run tasks.
    await broker.createContainer('q');
    const task = await dispatcher.enqueue(new Succeeds({ n: 1 }));
    await until(async () => (await dispatcher.taskLog.getStatus(task.id)) === TaskStatus.Completed, 15_000, 'the task to complete');
    expect([observed.status, unobserved.status]).toEqual(['running', 'running']);
    await Promise.all([observed.stop(), unobserved.stop()]);
    await expect(Promise.all(runs)).resolves.toHaveLength(2);
  });
});

test('Worker events are typed: a listener gets its event, a wrong event name does not compile', () => {
  const dispatcher = new QueueDispatcher({ queues: [new Queue('q', new RdsQueueBroker({ connection: 'sqlite::memory:' }))], taskLog: new TaskLog(new RdsTaskLogBroker({ connection: 'sqlite::memory:' })), tasks: TASKS, logger: silentLogger });
  const worker = new Worker(dispatcher, { logger: silentLogger });
  const durations: number[] = [];
  worker.on('completed', (e) => durations.push(e.durationMs));
  worker.on('stalled', (e) => durations.push(e.stalls));
  // @ts-expect-error 'complete' is not a Worker event
  worker.on('complete', () => undefined);
  // @ts-expect-error a failed event has no durationSeconds
  worker.on('failed', (e) => durations.push(e.durationSeconds));
  expect(worker.listenerCount('completed')).toBe(1);
  void dispatcher.close();
});
