/**
 * Unique tasks (issue 9, point 6), the same on every broker: enqueue option uniqueKey returns the
 * pending task of the key instead of a duplicate, until a worker takes it; replace gives that
 * task new params and a new run time; two enqueues of one key at once make one task; a task id
 * given twice is a DuplicateTaskIdError with nothing written. A dispatcher on the broker under
 * test, and a worker on a second dispatcher with a task-log object of its own, as another
 * process has. Sync brokers run a task within its enqueue: it is never pending for the next one.
 */
import { AbstractTask, DuplicateTaskIdError, Queue, QueueDispatcher, TaskLog, TaskLogFilter, TaskStatus, silentLogger, type TaskContext } from '../../src';
import { until } from '../helpers/wait';
import type { BrokerUnderTest } from './queueBrokerConformance';
import { whileWorkersRun } from '../helpers/workers';

/** Runs per task id, and the params each run saw. */
const seen = new Map<string, number[]>();

class Count extends AbstractTask<{ n: number }> {
  static override taskName = 'UniqueCount';
  run(ctx: TaskContext): number {
    seen.set(ctx.taskId, [...(seen.get(ctx.taskId) ?? []), this.getParameter('n')]);
    return this.getParameter('n');
  }
}

/** Runs until `open` is called: a task that is running, not pending. */
let open: () => void = () => undefined;
let gate = Promise.resolve();
class Gated extends AbstractTask<{ n: number }> {
  static override taskName = 'UniqueGated';
  async run(): Promise<number> {
    await gate;
    return this.getParameter('n');
  }
}

const TASKS = [Count, Gated];

export interface UniqueTasksOptions {
  /** The broker runs tasks at enqueue time (InMemoryQueueBroker's default). */
  sync?: boolean;
}

export function describeUniqueTasks(name: string, make: () => Promise<BrokerUnderTest>, options: UniqueTasksOptions = {}): void {
  const queued = options.sync ? () => undefined : test;
  const sync = options.sync ? test : () => undefined;
  describe(`${name}: unique tasks`, () => {
    let sut: BrokerUnderTest;
    let dispatcher: QueueDispatcher;
    let other: QueueDispatcher;
    let q: string;
    let n = 0;

    beforeEach(async () => {
      sut = await make();
      q = `unique_${++n}`;
      dispatcher = new QueueDispatcher({ queues: [new Queue(q, sut.queueBroker)], taskLog: new TaskLog(sut.taskLogBroker), tasks: TASKS, logger: silentLogger });
      other = new QueueDispatcher({ queues: [new Queue(q, sut.second ?? sut.queueBroker)], taskLog: new TaskLog(sut.taskLogBroker), tasks: TASKS, logger: silentLogger });
      await dispatcher.initialize();
      seen.clear();
    });

    afterEach(async () => {
      open();
      await sut.cleanup();
    });

    function withWorker<T>(body: () => Promise<T>): Promise<T> {
      return options.sync ? body() : whileWorkersRun([other], body);
    }

    const ended = (ids: string[]) => dispatcher.taskLog.waitForEnd(ids, { timeoutMs: 20_000 });
    const countByName = (taskName: string) => dispatcher.taskLog.count(new TaskLogFilter().eq('taskName', taskName));

    queued('a second enqueue of a pending key returns the first task, and it runs once with its own params', async () => {
      const first = await dispatcher.enqueueUnique(new Count({ n: 1 }), { uniqueKey: 'report:42' });
      const second = await other.enqueueUnique(new Count({ n: 2 }), { uniqueKey: 'report:42' });
      const third = await dispatcher.enqueue(new Count({ n: 3 }), { uniqueKey: 'report:42' });
      expect([first.outcome, second.outcome]).toEqual(['created', 'existing']);
      expect(second.task.id).toBe(first.task.id);
      expect(third.id).toBe(first.task.id);
      expect(third.isEnqueued()).toBe(true);
      expect(await countByName('UniqueCount')).toBe(1);
      // Another key is another task.
      const elsewhere = await dispatcher.enqueueUnique(new Count({ n: 4 }), { uniqueKey: 'report:43' });
      expect(elsewhere.outcome).toBe('created');
      // run() with the key awaits the pending task: its result, not one of these params.
      const awaited = other.run<number>(new Count({ n: 9 }), { uniqueKey: 'report:42', timeout: 20_000 });
      const entries = await withWorker(() => ended([first.task.id, elsewhere.task.id]));
      await expect(awaited).resolves.toBe(1);
      expect(entries.map((e) => [e.status, e.report?.data])).toEqual([[TaskStatus.Completed, 1], [TaskStatus.Completed, 4]]);
      expect(seen.get(first.task.id)).toEqual([1]);
      expect(await countByName('UniqueCount')).toBe(2);
    });

    queued('once a worker has taken the task (running, then ended), the key makes a new task', async () => {
      gate = new Promise((resolve) => (open = resolve));
      const first = await dispatcher.enqueueUnique(new Gated({ n: 1 }), { uniqueKey: 'gated' });
      await withWorker(async () => {
        await until(async () => (await dispatcher.taskLog.getStatus(first.task.id)) === TaskStatus.Running, 20_000, 'the first task to run');
        const second = await dispatcher.enqueueUnique(new Gated({ n: 2 }), { uniqueKey: 'gated' });
        expect(second.outcome).toBe('created');
        expect(second.task.id).not.toBe(first.task.id);
        open();
        await ended([first.task.id, second.task.id]);
      });
      const third = await dispatcher.enqueueUnique(new Count({ n: 3 }), { uniqueKey: 'gated' });
      expect(third.outcome).toBe('created');
      await withWorker(() => ended([third.task.id]));
      expect(seen.get(third.task.id)).toEqual([3]);
    });

    queued('a task cancelled before it started frees its key', async () => {
      const first = await dispatcher.enqueueUnique(new Count({ n: 1 }), { uniqueKey: 'cancel-me' });
      await dispatcher.taskLog.cancel(first.task.id);
      const second = await dispatcher.enqueueUnique(new Count({ n: 2 }), { uniqueKey: 'cancel-me' });
      expect(second.outcome).toBe('created');
      await withWorker(() => ended([second.task.id]));
      expect(seen.get(first.task.id)).toBeUndefined();
      expect(seen.get(second.task.id)).toEqual([2]);
    });

    queued('replace: the pending task takes the new params and run time, and runs once, with them', async () => {
      // FIFO queues take no delay per message: there only the params change.
      const later = sut.fifo ? {} : { delay: 600_000 };
      const first = await dispatcher.enqueueUnique(new Count({ n: 1 }), { uniqueKey: 'digest', ...later });
      const replaced = await other.enqueueUnique(new Count({ n: 2 }), { uniqueKey: 'digest', replace: true });
      expect(replaced).toMatchObject({ outcome: 'replaced' });
      expect(replaced.task.id).toBe(first.task.id);
      expect(await dispatcher.taskLog.get(first.task.id)).toMatchObject({ status: TaskStatus.Enqueued, parameters: { n: 2 } });
      const again = await dispatcher.enqueueUnique(new Count({ n: 3 }), { uniqueKey: 'digest', replace: true });
      expect(again).toMatchObject({ outcome: 'replaced' });
      expect(again.task.id).toBe(first.task.id);
      // Due now, no longer in ten minutes: a worker runs it at once.
      const [entry] = await withWorker(async () => {
        const entries = await ended([first.task.id]);
        // Every older message is skipped as stale when it comes (not waited for: it was due in ten minutes).
        await new Promise((resolve) => setTimeout(resolve, 300));
        return entries;
      });
      expect(entry).toMatchObject({ status: TaskStatus.Completed, attempts: 1, parameters: { n: 3 }, report: { data: 3 } });
      expect(seen.get(first.task.id)).toEqual([3]);
      expect(await countByName('UniqueCount')).toBe(1);
    });

    queued('replace to a later run time: the older message, due now, is skipped; the task runs later, once', async () => {
      if (sut.fifo) return; // no delay per message on a FIFO queue
      const first = await dispatcher.enqueueUnique(new Count({ n: 1 }), { uniqueKey: 'postponed' });
      const replaced = await dispatcher.enqueueUnique(new Count({ n: 2 }), { uniqueKey: 'postponed', replace: true, delay: 2_000 });
      expect(replaced.outcome).toBe('replaced');
      const replacedAt = Date.now();
      const entry = await withWorker(async () => {
        // The first message is due at once: a worker gets it, and skips it unrun.
        await new Promise((resolve) => setTimeout(resolve, 1_000));
        expect(await dispatcher.taskLog.get(first.task.id)).toMatchObject({ status: TaskStatus.Enqueued, attempts: 0 });
        const [ended_] = await ended([first.task.id]);
        return ended_;
      });
      expect(Date.now() - replacedAt).toBeGreaterThanOrEqual(1_900);
      expect(entry).toMatchObject({ status: TaskStatus.Completed, attempts: 1, report: { data: 2 } });
      expect(seen.get(first.task.id)).toEqual([2]);
    });

    queued('replace with no pending task of the key creates one', async () => {
      const created = await dispatcher.enqueueUnique(new Count({ n: 5 }), { uniqueKey: 'fresh', replace: true });
      expect(created.outcome).toBe('created');
      await withWorker(() => ended([created.task.id]));
      expect(seen.get(created.task.id)).toEqual([5]);
    });

    queued('concurrent enqueues of one key, from two dispatchers, make one task', async () => {
      const results = await Promise.all(Array.from({ length: 12 }, (_, i) => (i % 2 ? other : dispatcher).enqueueUnique(new Count({ n: i }), { uniqueKey: 'race' })));
      const ids = new Set(results.map((r) => r.task.id));
      expect(ids.size).toBe(1);
      expect(results.filter((r) => r.outcome === 'created')).toHaveLength(1);
      expect(await countByName('UniqueCount')).toBe(1);
      const [id] = ids;
      await withWorker(() => ended([id]));
      expect(seen.get(id)).toHaveLength(1);
    });

    queued('concurrent replaces of one key leave one task, run once with one of the params', async () => {
      const first = await dispatcher.enqueueUnique(new Count({ n: 0 }), { uniqueKey: 'race-replace', ...(sut.fifo ? {} : { delay: 600_000 }) });
      const results = await Promise.all(Array.from({ length: 8 }, (_, i) => (i % 2 ? other : dispatcher).enqueueUnique(new Count({ n: i + 1 }), { uniqueKey: 'race-replace', replace: true })));
      expect(new Set(results.map((r) => r.task.id))).toEqual(new Set([first.task.id]));
      const logged = (await dispatcher.taskLog.get(first.task.id))?.parameters as { n: number };
      await withWorker(() => ended([first.task.id]));
      expect(seen.get(first.task.id)).toEqual([logged.n]);
      expect(await countByName('UniqueCount')).toBe(1);
    });

    sync('on a sync queue a task runs within its enqueue: the next enqueue of its key is a new task', async () => {
      const first = await dispatcher.enqueueUnique(new Count({ n: 1 }), { uniqueKey: 'sync' });
      const second = await dispatcher.enqueueUnique(new Count({ n: 2 }), { uniqueKey: 'sync', replace: true });
      expect([first.outcome, second.outcome]).toEqual(['created', 'created']);
      expect(seen.get(first.task.id)).toEqual([1]);
      expect(seen.get(second.task.id)).toEqual([2]);
    });

    test('a task id given twice is a DuplicateTaskIdError naming it, and nothing is written', async () => {
      const first = await dispatcher.enqueue(new Count({ n: 1 }, { id: 'order-7' }));
      const error = await dispatcher.enqueue(new Count({ n: 2 }, { id: 'order-7' })).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(DuplicateTaskIdError);
      expect(error).toMatchObject({ taskIds: ['order-7'], message: expect.stringMatching(/^Task id "order-7" is already in the task log/) });
      // In a batch: nothing of the batch is written.
      const batch = [new Count({ n: 3 }, { id: 'order-8' }), new Count({ n: 4 }, { id: 'order-7' })];
      await expect(other.enqueueMany(batch)).rejects.toMatchObject({ name: 'DuplicateTaskIdError', taskIds: ['order-7'] });
      expect(await dispatcher.taskLog.get('order-8')).toBeNull();
      // With a uniqueKey too.
      await expect(dispatcher.enqueue(new Count({ n: 5 }, { id: 'order-7' }), { uniqueKey: 'order' })).rejects.toBeInstanceOf(DuplicateTaskIdError);
      await withWorker(() => ended([first.id]));
      expect(await dispatcher.taskLog.get('order-7')).toMatchObject({ status: TaskStatus.Completed, parameters: { n: 1 }, attempts: 1 });
      expect(seen.get('order-7')).toEqual([1]);
      expect(await countByName('UniqueCount')).toBe(1);
    });
  });
}
