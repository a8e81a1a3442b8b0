/**
 * Rate and concurrency limits, the same on every broker: a queue's rateLimit and a task's
 * maxConcurrent hold across workers on dispatchers of their own (as other processes have), and
 * the task log's limited claim keeps them at the source. Sync brokers run every task at enqueue
 * time: there the enqueue waits.
 */
import { AbstractTask, ConfigError, Queue, QueueDispatcher, TaskLog, TaskStatus, silentLogger, type TaskLogEntry } from '../../src';
import type { BrokerUnderTest } from './queueBrokerConformance';
import { mostInWindow } from '../helpers/timeWindows';
import type { SemanticsOptions } from './taskSemanticsConformance';
import { whileWorkersRun } from '../helpers/workers';

/** Notes when it starts (the limits are checked on the log's clock: see startedAt). */
class Tick extends AbstractTask<{ n: number }> {
  static override taskName = 'Tick';
  run(): number {
    return this.getParameter('n');
  }
}

/** Runs `ms`, counting how many run at once in this process (the workers are all here). */
class Export extends AbstractTask<{ ms: number }> {
  static override taskName = 'Export';
  static override maxConcurrent = 2;
  static running = 0;
  static most = 0;
  async run(): Promise<void> {
    Export.running++;
    Export.most = Math.max(Export.most, Export.running);
    try {
      await new Promise((resolve) => setTimeout(resolve, this.getParameter('ms')));
    } finally {
      Export.running--;
    }
  }
}

const TASKS = [Tick, Export];

export function describeTaskLimits(name: string, make: () => Promise<BrokerUnderTest>, options: SemanticsOptions = {}): void {
  describe(`${name}: rate and concurrency limits`, () => {
    let sut: BrokerUnderTest;
    let n = 0;
    let queueName: string;

    beforeEach(async () => {
      sut = await make();
      queueName = `limits_${++n}`;
      Export.running = 0;
      Export.most = 0;
    });

    afterEach(() => sut.cleanup());

    const dispatcherOn = (broker: BrokerUnderTest['queueBroker'], rateLimit?: { max: number; perMs: number }, maxConcurrent?: Record<string, number>) =>
      new QueueDispatcher({ queues: [new Queue(queueName, broker, { rateLimit })], taskLog: new TaskLog(sut.taskLogBroker), tasks: TASKS, maxConcurrent, logger: silentLogger });

    /** Enqueues through one dispatcher and runs `workers` workers, each on a dispatcher of its own, until every task ended. */
    async function runAll(tasks: AbstractTask<object>[], setup: { rateLimit?: { max: number; perMs: number }; maxConcurrent?: Record<string, number>; workers?: number }): Promise<TaskLogEntry[]> {
      const dispatcher = dispatcherOn(sut.queueBroker, setup.rateLimit, setup.maxConcurrent);
      await dispatcher.initialize();
      if (options.sync) {
        for (const task of tasks) await dispatcher.enqueue(task);
        return dispatcher.taskLog.waitForEnd(tasks.map((task) => task.id), { timeoutMs: 60_000 });
      }
      await dispatcher.enqueueMany(tasks);
      const workerDispatchers = Array.from({ length: setup.workers ?? 2 }, (_, i) => dispatcherOn(i === 0 ? (sut.second ?? sut.queueBroker) : sut.queueBroker, setup.rateLimit, setup.maxConcurrent));
      return whileWorkersRun(workerDispatchers, () => dispatcher.taskLog.waitForEnd(tasks.map((task) => task.id), { timeoutMs: 60_000 }));
    }

    test('a queue rateLimit: never more than max starts in any window, and every task runs once, unfailed', async () => {
      const entries = await runAll(Array.from({ length: 10 }, (_, i) => new Tick({ n: i })), { rateLimit: { max: 4, perMs: 1_000 } });
      for (const entry of entries) expect(entry).toMatchObject({ status: TaskStatus.Completed, attempts: 1 });
      const starts = entries.map((entry) => (entry.startedAt as Date).getTime());
      expect(mostInWindow(starts, 1_000)).toBeLessThanOrEqual(4);
      // Ten starts at four a second span at least two windows.
      expect(Math.max(...starts) - Math.min(...starts)).toBeGreaterThanOrEqual(2_000);
    });

    test("a task's static maxConcurrent holds across workers; waiting uses no attempt", async () => {
      const entries = await runAll(Array.from({ length: 8 }, () => new Export({ ms: 150 })), { workers: 3 });
      for (const entry of entries) expect(entry).toMatchObject({ status: TaskStatus.Completed, attempts: 1 });
      expect(Export.most).toBeLessThanOrEqual(2);
      // A FIFO queue runs one task of a message group (here, of a task name) at a time anyway.
      if (!options.sync && !sut.fifo) expect(Export.most).toBe(2);
    });

    test("the dispatcher's maxConcurrent wins over the class's", async () => {
      const entries = await runAll(Array.from({ length: 4 }, () => new Export({ ms: 100 })), { maxConcurrent: { Export: 1 } });
      expect(entries.every((entry) => entry.status === TaskStatus.Completed)).toBe(true);
      expect(Export.most).toBe(1);
    });

    test('the limited claim: a full window says when it frees, and a running task holds its slot until its lease runs out', async () => {
      const log = new TaskLog(sut.taskLogBroker);
      await log.createContainer();
      const entry = (id: string) => ({ id, parentId: null, taskName: 'Export', label: '', owner: null, queue: queueName, parameters: {}, createdAt: new Date(), status: TaskStatus.Enqueued });
      await log.add(['r1', 'r2', 'r3', 'c1', 'c2'].map(entry));
      const rate = { rate: { key: queueName, max: 2, perMs: 800 } };
      expect(await log.claim('r1', 'w', 5_000, undefined, rate)).toMatchObject({ outcome: 'claimed', attempt: 1 });
      expect(await log.claim('r2', 'w', 5_000, undefined, rate)).toMatchObject({ outcome: 'claimed' });
      const limited = await log.claim('r3', 'w', 5_000, undefined, rate);
      expect(limited).toMatchObject({ outcome: 'limited' });
      expect((limited as { retryAfterMs: number }).retryAfterMs).toBeGreaterThan(0);
      expect((limited as { retryAfterMs: number }).retryAfterMs).toBeLessThanOrEqual(801);
      expect(await log.getStatus('r3')).toBe(TaskStatus.Enqueued);
      await new Promise((resolve) => setTimeout(resolve, (limited as { retryAfterMs: number }).retryAfterMs + 50));
      expect(await log.claim('r3', 'w', 5_000, undefined, rate)).toMatchObject({ outcome: 'claimed', attempt: 1 });

      const one = { concurrency: { taskName: 'Export', max: 3 } };
      // r1..r3 are running (Export): a fourth waits; c1's slot frees when a lease runs out.
      expect(await log.claim('c1', 'w', 5_000, undefined, one)).toMatchObject({ outcome: 'limited' });
      await log.changeStatus('r1', { from: [TaskStatus.Running], to: TaskStatus.Completed, finished: true });
      expect(await log.claim('c1', 'dying', 300, undefined, one)).toMatchObject({ outcome: 'claimed' });
      expect(await log.claim('c2', 'w', 5_000, undefined, one)).toMatchObject({ outcome: 'limited' });
      await new Promise((resolve) => setTimeout(resolve, 400));
      expect(await log.claim('c2', 'w', 5_000, undefined, one)).toMatchObject({ outcome: 'claimed' });
      // A claim that cannot apply says why, limits or not.
      expect(await log.claim('c2', 'w', 5_000, undefined, one)).toMatchObject({ outcome: 'busy' });
      expect(await log.claim('nope', 'w', 5_000, undefined, one)).toEqual({ outcome: 'missing' });
    });

    test('limited claims made at once, from one process and from a second log object, let exactly max through', async () => {
      const log = new TaskLog(sut.taskLogBroker);
      await log.createContainer();
      const ids = Array.from({ length: 12 }, (_, i) => `at-once-${i}`);
      await log.add(ids.map((id) => ({ id, parentId: null, taskName: 'Export', label: '', owner: null, queue: queueName, parameters: {}, createdAt: new Date(), status: TaskStatus.Enqueued })));
      const limits = { rate: { key: queueName, max: 5, perMs: 60_000 }, concurrency: { taskName: 'Export', max: 4 } };
      const other = new TaskLog(sut.taskLogBroker);
      const results = await Promise.all(ids.map((id, i) => (i % 2 ? other : log).claim(id, `w${i % 3}`, 5_000, undefined, limits)));
      expect(results.filter((r) => r.outcome === 'claimed')).toHaveLength(4);
      expect(results.filter((r) => r.outcome === 'limited')).toHaveLength(8);
    });

    test('bad limits are one clear error', () => {
      expect(() => new Queue('q', sut.queueBroker, { rateLimit: { max: 0, perMs: 1_000 } })).toThrow(ConfigError);
      expect(() => new Queue('q', sut.queueBroker, { rateLimit: { max: 5, perMs: 1_000, burst: 2 } as never })).toThrow('Queue "q": rateLimit must be { max, perMs }');
      expect(() => dispatcherOn(sut.queueBroker, undefined, { Exprot: 2 })).toThrow('maxConcurrent.Exprot: no registered task or callback is named "Exprot"');
      expect(() => dispatcherOn(sut.queueBroker, undefined, { Export: 0 })).toThrow('maxConcurrent.Export must be an integer >= 1, got 0');
    });
  });
}
