/**
 * dispatcher.rerun(id): a failed or cancelled task is published again by its id, on memory,
 * SQLite and PostgreSQL (TASKQ_TEST_PG_URL), and on the sync in-memory queue.
 */
import {
  AbstractTask,
  CallbackTask,
  InMemoryQueueBroker,
  InMemoryTaskLogBroker,
  Queue,
  QueueDispatcher,
  TaskLog,
  TaskNotFoundError,
  TaskRerunError,
  TaskStatus,
  Worker,
  createLogger,
  defineCallback,
  silentLogger,
  type Logger,
  type QueueBroker,
  type TaskContext,
} from '../src';
import { type BrokerSetup, deliverySetups } from './helpers/brokerSetups';
import { until, wait } from './helpers/wait';

jest.setTimeout(30_000);

/** Fails until `FlakyTask.healed` holds its id: a task that a fix (or a rerun later) makes pass. */
class FlakyTask extends AbstractTask<{ n: number }> {
  static override taskName = 'FlakyTask';
  static override maxAttempts = 2;
  static override backoff = 0;
  static healed = new Set<string>();
  static attempts = new Map<string, number[]>();
  run(ctx: TaskContext) {
    FlakyTask.attempts.set(ctx.taskId, [...(FlakyTask.attempts.get(ctx.taskId) ?? []), ctx.attempt]);
    if (!FlakyTask.healed.has(ctx.taskId)) throw new Error(`not yet (attempt ${ctx.attempt})`);
    return { n: this.getParameter('n'), attempt: ctx.attempt };
  }
}

/** Never registered with the dispatchers below. */
class Stranger extends AbstractTask<Record<string, never>> {
  static override taskName = 'Stranger';
  run() {
    return 'never';
  }
}

/** A broker whose pushes fail while `failing` is set (a network error, a full queue). */
function failingPushes(broker: QueueBroker): { broker: QueueBroker; failing: { on: boolean } } {
  const failing = { on: false };
  const wrapped = Object.create(broker) as QueueBroker;
  wrapped.push = async (queue, message) => {
    if (failing.on) throw new Error('push refused by the broker');
    return broker.push(queue, message);
  };
  wrapped.pushMany = async (queue, messages) => {
    if (failing.on) throw new Error('push refused by the broker');
    return broker.pushMany(queue, messages);
  };
  return { broker: wrapped, failing };
}

function capturingLogger(): { logger: Logger; warnings: string[] } {
  const warnings: string[] = [];
  const logger = createLogger('silent');
  logger.warn = (message: string) => void warnings.push(message);
  return { logger, warnings };
}

beforeEach(() => {
  FlakyTask.healed.clear();
  FlakyTask.attempts.clear();
});

describe.each(deliverySetups())('rerun on %s', (_name, setup) => {
  let sut: BrokerSetup;
  let dispatcher: QueueDispatcher;
  let failing: { on: boolean };
  let warnings: string[];
  const workers: Worker[] = [];

  /** Runs a worker until `n` tasks ran. */
  const work = async (n: number) => {
    const worker = new Worker(dispatcher, { idleMaxMs: 20, logger: silentLogger, limit: n, lostTaskAfterMs: 0 });
    workers.push(worker);
    await worker.run();
  };
  const entry = async (id: string) => (await dispatcher.taskLog.get(id))!;

  /** A FlakyTask run to the end of its attempts: failed. */
  const failedTask = async () => {
    const task = await dispatcher.enqueue(new FlakyTask({ n: 7 }, { owner: 'user-1', label: 'flaky one' }));
    await work(2);
    expect((await entry(task.id)).status).toBe(TaskStatus.Failed);
    return task;
  };

  beforeEach(async () => {
    sut = setup();
    const wrapped = failingPushes(sut.queueBroker);
    failing = wrapped.failing;
    const captured = capturingLogger();
    warnings = captured.warnings;
    dispatcher = new QueueDispatcher({
      queues: [new Queue('q', wrapped.broker), new Queue('other', wrapped.broker)],
      taskLog: new TaskLog(sut.taskLogBroker),
      tasks: [FlakyTask],
      logger: captured.logger,
    });
    await dispatcher.initialize();
  });

  afterEach(async () => {
    await Promise.all(workers.splice(0).map((w) => w.stop()));
    await dispatcher.close();
    await sut.cleanup();
  });

  test('a task that failed every attempt runs again, with the full attempts, and completes', async () => {
    const task = await failedTask();
    const failed = await entry(task.id);
    expect(failed.attempts).toBe(2);
    expect(failed.report?.message).toBe('not yet (attempt 2)');

    const again = await dispatcher.rerun(task.id);
    expect(again.id).toBe(task.id);
    expect(again.isEnqueued()).toBe(true);
    const waiting = await entry(task.id);
    expect(waiting.status).toBe(TaskStatus.Enqueued);
    // The old report stays until the new run replaces it.
    expect(waiting.report?.message).toBe('not yet (attempt 2)');

    // Its first run again fails (attempt 3), the retry (attempt 4) passes: two attempts again,
    // although the log counts on from 2.
    let calls = 0;
    const run = FlakyTask.prototype.run;
    jest.spyOn(FlakyTask.prototype, 'run').mockImplementation(function (this: FlakyTask, ctx: TaskContext) {
      if (++calls === 2) FlakyTask.healed.add(ctx.taskId);
      return run.call(this, ctx);
    });
    await work(2);
    jest.restoreAllMocks();

    const done = await entry(task.id);
    expect(done.status).toBe(TaskStatus.Completed);
    expect(done.attempts).toBe(4);
    expect(done.report?.data).toEqual({ n: 7, attempt: 4 });
    expect(FlakyTask.attempts.get(task.id)).toEqual([1, 2, 3, 4]);
    // Rebuilt from the entry: params, owner, label, queue.
    expect(done).toMatchObject({ owner: 'user-1', label: 'flaky one', queue: 'q', parameters: { n: 7 } });
    expect(done.finishedAt!.getTime()).toBeGreaterThanOrEqual(failed.finishedAt!.getTime());
  });

  test('a rerun that fails again uses up the class maxAttempts again, then ends failed', async () => {
    const task = await failedTask();
    await dispatcher.rerun(task.id);
    await work(2);
    const done = await entry(task.id);
    expect(done.status).toBe(TaskStatus.Failed);
    expect(done.attempts).toBe(4);
    expect(done.report?.message).toBe('not yet (attempt 4)');
    // No third run was left over on the queue.
    expect(await dispatcher.getQueue('q').count()).toBe(0);
  });

  test('a cancelled task runs again', async () => {
    const task = await dispatcher.enqueue(new FlakyTask({ n: 1 }));
    await dispatcher.taskLog.cancel(task.id);
    FlakyTask.healed.add(task.id);
    await dispatcher.rerun(task.id);
    // Two messages are queued now (no worker took the cancelled one): the claim runs it once, the
    // other message finds it completed and is acknowledged.
    expect(await dispatcher.getQueue('q').count()).toBe(2);
    const worker = new Worker(dispatcher, { idleMaxMs: 20, logger: silentLogger, lostTaskAfterMs: 0 });
    workers.push(worker);
    void worker.run();
    await until(async () => (await entry(task.id)).status === TaskStatus.Completed && (await dispatcher.getQueue('q').count()) === 0, 10_000, 'the rerun to complete');
    expect(FlakyTask.attempts.get(task.id)).toEqual([1]);
  });

  test('refuses an unknown id, and a completed, enqueued or archived task, saying why', async () => {
    await expect(dispatcher.rerun('no-such-task')).rejects.toThrow(TaskNotFoundError);
    await expect(dispatcher.rerun('no-such-task')).rejects.toThrow('Task no-such-task was not found in the task log');

    const waiting = await dispatcher.enqueue(new FlakyTask({ n: 2 }));
    await expect(dispatcher.rerun(waiting.id)).rejects.toThrow(TaskRerunError);
    await expect(dispatcher.rerun(waiting.id)).rejects.toThrow(`Task ${waiting.id} is enqueued: only a failed or cancelled task can be run again`);

    FlakyTask.healed.add(waiting.id);
    await work(1);
    expect((await entry(waiting.id)).status).toBe(TaskStatus.Completed);
    await expect(dispatcher.rerun(waiting.id)).rejects.toThrow(`Task ${waiting.id} is completed: only a failed or cancelled task can be run again`);

    const failed = await failedTask();
    await dispatcher.taskLog.archive(failed.id);
    const refusal = await dispatcher.rerun(failed.id).catch((error: unknown) => error);
    expect(refusal).toBeInstanceOf(TaskRerunError);
    expect(refusal).toMatchObject({ taskId: failed.id, status: TaskStatus.Archived, message: `Task ${failed.id} is archived: an archived task cannot be run again` });
    // Nothing was written by the refusals.
    expect((await entry(failed.id)).status).toBe(TaskStatus.Archived);
    expect((await entry(waiting.id)).status).toBe(TaskStatus.Completed);
    expect(await dispatcher.getQueue('q').count()).toBe(0);
  });

  test('refuses a task whose name is not registered', async () => {
    // Logged by another application, sharing the log, with a task this one does not register.
    const other = new QueueDispatcher({ queues: [new Queue('q', sut.queueBroker)], taskLog: new TaskLog(sut.taskLogBroker), tasks: [Stranger], logger: silentLogger });
    const stranger = new Stranger({});
    await dispatcher.taskLog.add([{ id: stranger.id, parentId: null, taskName: 'Stranger', label: '', owner: null, queue: 'q', parameters: {}, createdAt: new Date(), status: TaskStatus.Failed }]);
    await expect(dispatcher.rerun(stranger.id)).rejects.toThrow(`Task ${stranger.id} (Stranger) cannot be run again: no task named "Stranger" is registered with this dispatcher (registered: FlakyTask)`);
    expect((await entry(stranger.id)).status).toBe(TaskStatus.Failed);
    expect(other.registry.has('Stranger')).toBe(true);
  });

  test('two reruns at once: exactly one publishes it, the other is told it is enqueued', async () => {
    const task = await failedTask();
    for (let round = 0; round < 3; round++) {
      const outcomes = await Promise.allSettled([dispatcher.rerun(task.id), dispatcher.rerun(task.id), dispatcher.rerun(task.id)]);
      expect(outcomes.filter((o) => o.status === 'fulfilled')).toHaveLength(1);
      const refused = outcomes.filter((o): o is PromiseRejectedResult => o.status === 'rejected').map((o) => o.reason as Error);
      expect(refused).toHaveLength(2);
      for (const error of refused) {
        expect(error).toBeInstanceOf(TaskRerunError);
        expect(error.message).toMatch(new RegExp(`^Task ${task.id} is enqueued: only a failed or cancelled task can be run again`));
      }
      // One message, one run: the rerun fails its two attempts again.
      expect(await dispatcher.getQueue('q').count()).toBe(1);
      await work(2);
      expect(await entry(task.id)).toMatchObject({ status: TaskStatus.Failed, attempts: 4 + round * 2 });
      expect(await dispatcher.getQueue('q').count()).toBe(0);
    }
  });

  test('two reruns that both read the task as failed: the compare-and-set lets one through', async () => {
    const task = await failedTask();
    // Both reads are answered before either rerun writes.
    const get = dispatcher.taskLog.get.bind(dispatcher.taskLog);
    let reading = 0;
    let release!: () => void;
    const bothRead = new Promise<void>((resolve) => (release = resolve));
    jest.spyOn(dispatcher.taskLog, 'get').mockImplementation(async (id) => {
      const found = await get(id);
      if (++reading === 2) release();
      if (reading <= 2) await bothRead;
      return found;
    });
    const outcomes = await Promise.allSettled([dispatcher.rerun(task.id), dispatcher.rerun(task.id)]);
    jest.restoreAllMocks();
    expect(outcomes.map((o) => o.status).sort()).toEqual(['fulfilled', 'rejected']);
    const refused = outcomes.find((o): o is PromiseRejectedResult => o.status === 'rejected')!.reason as Error;
    expect(refused.message).toBe(`Task ${task.id} is enqueued: only a failed or cancelled task can be run again (it was failed when read, and changed meanwhile)`);
    expect(await dispatcher.getQueue('q').count()).toBe(1);
  });

  test('a push that fails puts the status and the report back, and rethrows', async () => {
    const task = await failedTask();
    const before = await entry(task.id);
    failing.on = true;
    await expect(dispatcher.rerun(task.id)).rejects.toThrow('push refused by the broker');
    const after = await entry(task.id);
    expect(after.status).toBe(TaskStatus.Failed);
    expect(after.report).toEqual(before.report);
    expect(after.attempts).toBe(2);
    expect(await dispatcher.getQueue('q').count()).toBe(0);

    // Once the broker takes messages again, the rerun goes through.
    failing.on = false;
    FlakyTask.healed.add(task.id);
    await dispatcher.rerun(task.id);
    await work(1);
    expect(await entry(task.id)).toMatchObject({ status: TaskStatus.Completed, attempts: 3 });
  });

  test('a push that fails for a cancelled task puts it back to cancelled', async () => {
    const task = await dispatcher.enqueue(new FlakyTask({ n: 3 }));
    const cancelled = await dispatcher.taskLog.cancel(task.id);
    failing.on = true;
    await expect(dispatcher.rerun(task.id)).rejects.toThrow('push refused by the broker');
    expect(await entry(task.id)).toMatchObject({ status: TaskStatus.Cancelled, report: cancelled.report });
  });

  test('a task whose recorded queue is gone runs on its normal queue, with a warning', async () => {
    const task = await failedTask();
    const elsewhere = new QueueDispatcher({
      queues: [new Queue('other', sut.queueBroker)],
      taskLog: new TaskLog(sut.taskLogBroker),
      tasks: [FlakyTask],
      logger: dispatcher.logger,
    });
    await elsewhere.rerun(task.id);
    expect(warnings.join('\n')).toContain(`Task ${task.id} (FlakyTask) was on queue "q", which this dispatcher no longer has: it runs again on queue other, its normal queue choice`);
    expect(await dispatcher.getQueue('other').count()).toBe(1);
    expect(await dispatcher.getQueue('q').count()).toBe(0);
    // (Not closed: it shares the brokers of `dispatcher`, which closes them.)
  });

  test('a child of a parent that already ended runs again without touching the parent', async () => {
    const parent = await failedTask();
    const child = new FlakyTask({ n: 9 }, { parentId: parent.id });
    await dispatcher.enqueue(child);
    await work(2);
    expect((await entry(child.id)).status).toBe(TaskStatus.Failed);
    FlakyTask.healed.add(child.id);
    await dispatcher.rerun(child.id);
    await work(1);
    expect(await entry(child.id)).toMatchObject({ status: TaskStatus.Completed, parentId: parent.id });
    expect((await entry(parent.id)).status).toBe(TaskStatus.Failed);
  });
});

describe('rerun on the sync in-memory queue', () => {
  let dispatcher: QueueDispatcher;
  beforeEach(() => {
    dispatcher = new QueueDispatcher({
      queues: [new Queue('sync', new InMemoryQueueBroker({ sync: true }))],
      taskLog: new TaskLog(new InMemoryTaskLogBroker()),
      tasks: [FlakyTask],
      logger: silentLogger,
    });
  });
  afterEach(() => dispatcher.close());

  test('runs the task at once and returns after it ran', async () => {
    const task = await dispatcher.enqueue(new FlakyTask({ n: 5 }));
    expect(await dispatcher.taskLog.get(task.id)).toMatchObject({ status: TaskStatus.Failed, attempts: 2 });
    FlakyTask.healed.add(task.id);
    const again = await dispatcher.rerun(task.id);
    expect(again.isEnqueued()).toBe(true);
    expect(await dispatcher.taskLog.get(task.id)).toMatchObject({ status: TaskStatus.Completed, attempts: 3, report: { data: { n: 5, attempt: 3 } } });
  });

  test('a rerun that fails again is retried up to the class maxAttempts at once', async () => {
    const task = await dispatcher.enqueue(new FlakyTask({ n: 5 }));
    await dispatcher.rerun(task.id);
    expect(await dispatcher.taskLog.get(task.id)).toMatchObject({ status: TaskStatus.Failed, attempts: 4 });
    expect(FlakyTask.attempts.get(task.id)).toEqual([1, 2, 3, 4]);
  });

  test('a callback task runs again', async () => {
    let calls = 0;
    const flaky = defineCallback('flaky', (args) => {
      if (++calls === 1) throw new Error('first call fails');
      return { args, calls };
    });
    const withCallback = new QueueDispatcher({
      queues: [new Queue('sync', new InMemoryQueueBroker({ sync: true }))],
      taskLog: new TaskLog(new InMemoryTaskLogBroker()),
      tasks: [flaky],
      logger: silentLogger,
    });
    const task = await withCallback.enqueue(CallbackTask.of('flaky', [1, 2]));
    expect(await withCallback.taskLog.getStatus(task.id)).toBe(TaskStatus.Failed);
    await withCallback.rerun(task.id);
    expect(await withCallback.taskLog.get(task.id)).toMatchObject({ taskName: 'CallbackTask:flaky', status: TaskStatus.Completed, report: { data: { args: [1, 2], calls: 2 } } });
    await withCallback.close();
  });

  test('refuses a task that stalled past its maxStalls: a worker would fail it again unrun', async () => {
    const task = new FlakyTask({ n: 1 });
    const log = dispatcher.taskLog;
    await log.add([{ id: task.id, parentId: null, taskName: 'FlakyTask', label: '', owner: null, queue: 'sync', parameters: { n: 1 }, createdAt: new Date(), status: TaskStatus.Enqueued }]);
    // Three claims, the last two taking over a run whose lease ran out: two stalls (maxStalls 1).
    for (let i = 0; i < 3; i++) {
      expect((await log.claim(task.id, `w${i}`, 1)).outcome).toBe('claimed');
      await wait(5);
    }
    await log.changeStatus(task.id, { from: [TaskStatus.Running], to: TaskStatus.Failed, finished: true });
    expect(await log.get(task.id)).toMatchObject({ stalls: 2, status: TaskStatus.Failed });
    await expect(dispatcher.rerun(task.id)).rejects.toThrow(`Task ${task.id} (FlakyTask) cannot be run again: its runs stalled 2 times (maxStalls 1)`);
    expect(await log.getStatus(task.id)).toBe(TaskStatus.Failed);
  });

  test('two reruns at once: one runs it, the other is refused', async () => {
    const task = await dispatcher.enqueue(new FlakyTask({ n: 5 }));
    FlakyTask.healed.add(task.id);
    const outcomes = await Promise.allSettled([dispatcher.rerun(task.id), dispatcher.rerun(task.id)]);
    expect(outcomes.map((o) => o.status).sort()).toEqual(['fulfilled', 'rejected']);
    const refused = outcomes.find((o): o is PromiseRejectedResult => o.status === 'rejected')!.reason as Error;
    expect(refused).toBeInstanceOf(TaskRerunError);
    // The winner may already run it, or have finished: the refusal names the status it found.
    expect(refused.message).toMatch(new RegExp(`^Task ${task.id} is (enqueued|running|completed): only a failed or cancelled task can be run again`));
    expect(FlakyTask.attempts.get(task.id)).toEqual([1, 2, 3]);
  });
});
