/**
 * Queue maintenance, the same on every broker: depths per queue and task name, purging a queue
 * (all of it, or one task name) while workers run, and pruning the task log. A sync broker runs
 * every task at enqueue time: there nothing waits, so a purge has nothing to purge.
 */
import { AbstractTask, ConfigError, Queue, QueueDispatcher, TaskLog, TaskStatus, silentLogger, type NewTaskLogEntry, type QueueBroker, type TaskContext } from '../../src';
import type { BrokerUnderTest } from './queueBrokerConformance';
import type { SemanticsOptions } from './taskSemanticsConformance';
import { until } from '../helpers/wait';
import { whileWorkersRun } from '../helpers/workers';

/** Counts its runs by task id: a task must never run twice, nor run once cancelled. */
class Tally extends AbstractTask<{ ms?: number }> {
  static override taskName = 'Tally';
  static runs = new Map<string, number>();
  async run(ctx: TaskContext): Promise<string> {
    Tally.runs.set(ctx.taskId, (Tally.runs.get(ctx.taskId) ?? 0) + 1);
    const ms = this.getParameter('ms');
    if (ms) await new Promise((resolve) => setTimeout(resolve, ms));
    return 'tallied';
  }
}

class Other extends AbstractTask<Record<string, never>> {
  static override taskName = 'Other';
  run(): string {
    return 'other';
  }
}

/** Runs until the test opens it: a task a worker is running while the test purges. */
class Gate extends AbstractTask<Record<string, never>> {
  static override taskName = 'Gate';
  static started: () => void = () => undefined;
  static open: () => void = () => undefined;
  async run(): Promise<string> {
    const opened = new Promise<void>((resolve) => (Gate.open = resolve));
    Gate.started();
    await opened;
    return 'through';
  }
}

const TASKS = [Tally, Other, Gate];
const DAY = 86_400_000;

export function describeQueueMaintenance(name: string, make: () => Promise<BrokerUnderTest>, options: SemanticsOptions = {}): void {
  /** Scenarios that need tasks still waiting for a worker. */
  const whenQueued = options.sync ? () => undefined : test;
  describe(`${name}: queue maintenance`, () => {
    let sut: BrokerUnderTest;
    let dispatcher: QueueDispatcher;
    let n = 0;
    let a: string;
    let b: string;

    const dispatcherOn = (broker: QueueBroker) => new QueueDispatcher({ queues: [new Queue(a, broker), new Queue(b, broker)], taskLog: new TaskLog(sut.taskLogBroker), tasks: TASKS, logger: silentLogger });

    beforeEach(async () => {
      sut = await make();
      n++;
      a = `maint_a_${n}`;
      b = `maint_b_${n}`;
      Tally.runs = new Map();
      dispatcher = dispatcherOn(sut.queueBroker);
      await dispatcher.initialize();
    });

    afterEach(() => sut.cleanup());

    /** Runs `body` with a worker consuming both queues through a dispatcher of its own (another "process"). */
    function withWorker<T>(body: () => Promise<T>, concurrency = 4): Promise<T> {
      return whileWorkersRun([dispatcherOn(sut.second ?? sut.queueBroker)], body, { concurrency });
    }

    describe('pendingCounts and queueDepths', () => {
      whenQueued('count waiting and running tasks per queue and task name, with the oldest waiting one', async () => {
        const tallies = [new Tally({}), new Tally({}), new Tally({})];
        await dispatcher.enqueueMany([...tallies, new Other({}), new Other({})], { queue: a });
        await dispatcher.enqueue(new Tally({}), { queue: b });
        // A worker's claim, as a worker makes it: that task runs, the others wait.
        expect(await dispatcher.taskLog.claim(tallies[0].id, 'test-worker', 60_000)).toMatchObject({ outcome: 'claimed' });
        const createdAt = async (ids: string[]) => new Date(Math.min(...(await Promise.all(ids.map(async (id) => (await dispatcher.taskLog.get(id))?.createdAt.getTime() ?? NaN)))));

        const counts = await dispatcher.taskLog.pendingCounts();
        const mine = counts.filter((c) => c.queue === a || c.queue === b).sort((x, y) => `${x.queue}/${x.taskName}`.localeCompare(`${y.queue}/${y.taskName}`));
        expect(mine).toEqual([
          { queue: a, taskName: 'Other', waiting: 2, running: 0, oldestWaitingAt: expect.any(Date) },
          { queue: a, taskName: 'Tally', waiting: 2, running: 1, oldestWaitingAt: await createdAt([tallies[1].id, tallies[2].id]) },
          { queue: b, taskName: 'Tally', waiting: 1, running: 0, oldestWaitingAt: expect.any(Date) },
        ]);

        const depths = await dispatcher.queueDepths();
        expect(depths.map((d) => d.queue)).toEqual([a, b]);
        expect(depths[0]).toMatchObject({ broker: sut.queueBroker.type, messages: 5, waiting: 4, running: 1 });
        expect(depths[0].tasks).toEqual([
          { taskName: 'Tally', waiting: 2, running: 1, oldestWaitingAt: await createdAt([tallies[1].id, tallies[2].id]) },
          { taskName: 'Other', waiting: 2, running: 0, oldestWaitingAt: expect.any(Date) },
        ]);
        expect(depths[0].oldestWaitingAt?.getTime()).toBe(Math.min(...depths[0].tasks.map((t) => t.oldestWaitingAt?.getTime() ?? Infinity)));
        expect(depths[1]).toMatchObject({ queue: b, messages: 1, waiting: 1, running: 0, tasks: [{ taskName: 'Tally', waiting: 1, running: 0 }] });
      });

      test('a queue with nothing waiting has zeros and no task rows, and every queue is listed', async () => {
        if (options.sync) await dispatcher.enqueue(new Tally({}), { queue: a });
        const depths = await dispatcher.queueDepths();
        expect(depths).toEqual([
          { queue: a, broker: sut.queueBroker.type, messages: 0, waiting: 0, running: 0, oldestWaitingAt: null, tasks: [] },
          { queue: b, broker: sut.queueBroker.type, messages: 0, waiting: 0, running: 0, oldestWaitingAt: null, tasks: [] },
        ]);
      });
    });

    describe('purge', () => {
      whenQueued('a whole queue: its waiting tasks end cancelled, unrun, its messages go; another queue is untouched', async () => {
        const purged = [new Tally({}), new Tally({}), new Other({})];
        await dispatcher.enqueueMany(purged, { queue: a });
        const kept = await dispatcher.enqueue(new Tally({}), { queue: b });
        const result = await dispatcher.purge(a, { by: 'ada@test' });
        // A broker that cannot remove messages by task (SQS) keeps them: workers settle them unrun.
        expect(result).toEqual({ cancelled: 3, messagesRemoved: sut.queueBroker.removeTasks ? 3 : 0 });
        for (const task of purged) {
          const entry = await dispatcher.taskLog.get(task.id);
          expect(entry).toMatchObject({ status: TaskStatus.Cancelled, finishedAt: expect.any(Date), report: { type: 'warning', data: { queue: a, purgedBy: 'ada@test' } } });
          expect(entry?.report?.message).toMatch(new RegExp(`^Purged from queue ${a} by ada@test`));
        }
        expect(await sut.queueBroker.count(a)).toBe(sut.queueBroker.removeTasks ? 0 : 3);
        const [keptEntry] = await withWorker(async () => {
          const entries = await dispatcher.taskLog.waitForEnd([kept.id], { timeoutMs: 20_000 });
          await until(async () => (await sut.queueBroker.count(a)) === 0, 20_000, 'the queue to be empty');
          return entries;
        });
        expect(keptEntry.status).toBe(TaskStatus.Completed);
        expect([...Tally.runs.keys()]).toEqual([kept.id]);
      });

      whenQueued('by task name: only that name is cancelled; the others run; no purged task ever runs', async () => {
        const tallies = [new Tally({}), new Tally({}), new Tally({})];
        const others = [new Other({}), new Other({})];
        await dispatcher.enqueueMany([...tallies, ...others], { queue: a });
        const result = await dispatcher.purge(a, { taskName: 'Tally' });
        // A broker that cannot remove messages by task (SQS) keeps them: workers settle them unrun.
        expect(result).toEqual({ cancelled: 3, messagesRemoved: sut.queueBroker.removeTasks ? 3 : 0 });
        expect(await sut.queueBroker.count(a)).toBe(sut.queueBroker.removeTasks ? 2 : 5);
        const ended = await withWorker(async () => {
          const entries = await dispatcher.taskLog.waitForEnd(others.map((t) => t.id), { timeoutMs: 20_000 });
          // The cancelled tasks' messages, where they stayed, are acknowledged without a run.
          await until(async () => (await sut.queueBroker.count(a)) === 0, 20_000, 'the queue to be empty');
          return entries;
        });
        expect(ended.map((e) => e.status)).toEqual([TaskStatus.Completed, TaskStatus.Completed]);
        for (const task of tallies) expect(await dispatcher.taskLog.getStatus(task.id)).toBe(TaskStatus.Cancelled);
        expect(Tally.runs.size).toBe(0);
      });

      whenQueued('a task a worker runs is left alone, its message kept, and completes', async () => {
        const started = new Promise<void>((resolve) => (Gate.started = resolve));
        const gate = new Gate({});
        await dispatcher.enqueue(gate, { queue: a });
        await withWorker(async () => {
          await started;
          const waiting = [new Tally({}), new Tally({})];
          await dispatcher.enqueueMany(waiting, { queue: a });
          const result = await dispatcher.purge(a);
          expect(result.cancelled).toBe(2);
          expect(await dispatcher.taskLog.getStatus(gate.id)).toBe(TaskStatus.Running);
          Gate.open();
          const [entry] = await dispatcher.taskLog.waitForEnd([gate.id], { timeoutMs: 20_000 });
          expect(entry).toMatchObject({ status: TaskStatus.Completed, attempts: 1, report: { data: 'through' } });
          for (const task of waiting) expect(await dispatcher.taskLog.getStatus(task.id)).toBe(TaskStatus.Cancelled);
          await until(async () => (await sut.queueBroker.count(a)) === 0, 20_000, 'the queue to be empty');
        }, 1);
        expect(Tally.runs.size).toBe(0);
      });

      whenQueued('racing a running worker: every task ends either completed, run once, or cancelled, never run', async () => {
        const tasks = Array.from({ length: 150 }, () => new Tally({ ms: 3 }));
        await dispatcher.enqueueMany(tasks, { queue: a });
        const ids = tasks.map((t) => t.id);
        const { result, entries } = await withWorker(async () => {
          await until(() => Tally.runs.size >= 5, 20_000, 'the worker to have run a few tasks');
          const purgeResult = await dispatcher.purge(a);
          const ended = await dispatcher.taskLog.waitForEnd(ids, { timeoutMs: 60_000 });
          // Where the cancelled tasks' messages stayed (SQS), the worker acknowledges them unrun.
          await until(async () => (await sut.queueBroker.count(a)) === 0, 60_000, 'the queue to be empty');
          return { result: purgeResult, entries: ended };
        });
        const completed = entries.filter((e) => e.status === TaskStatus.Completed);
        const cancelled = entries.filter((e) => e.status === TaskStatus.Cancelled);
        expect(completed.length + cancelled.length).toBe(tasks.length);
        expect(cancelled.length).toBe(result.cancelled);
        expect(completed.length).toBeGreaterThanOrEqual(5);
        expect(cancelled.length).toBeGreaterThan(0);
        for (const entry of completed) expect(Tally.runs.get(entry.id)).toBe(1);
        for (const entry of cancelled) expect(Tally.runs.has(entry.id)).toBe(false);
      });

      test('a queue with nothing waiting: nothing cancelled; an unknown queue is a ConfigError naming the queues', async () => {
        if (options.sync) await dispatcher.enqueue(new Tally({}), { queue: a });
        expect(await dispatcher.purge(a)).toEqual({ cancelled: 0, messagesRemoved: 0 });
        expect(await dispatcher.purge(a, { taskName: 'Tally' })).toEqual({ cancelled: 0, messagesRemoved: 0 });
        const error = await dispatcher.purge('nope').catch((e: unknown) => e);
        expect(error).toBeInstanceOf(ConfigError);
        expect((error as Error).message).toBe(`Unknown queue "nope" (queues: ${a}, ${b})`);
      });
    });

    describe('TaskLog.prune', () => {
      const entryOf = (id: string, status: TaskStatus, createdAt: Date): NewTaskLogEntry => ({ id, parentId: null, taskName: 'Tally', label: '', owner: null, queue: a, parameters: {}, createdAt, status });

      test('deletes ended entries older than the cutoff, in chunks, and never a waiting or running one', async () => {
        const log = dispatcher.taskLog;
        const old = new Date(Date.now() - 40 * DAY);
        // More than one chunk of the SQL delete (1,000 rows).
        await log.add(Array.from({ length: 1_201 }, (_, i) => entryOf(`old-failed-${n}-${i}`, TaskStatus.Failed, old)));
        await log.add([
          entryOf(`old-cancelled-${n}`, TaskStatus.Cancelled, old),
          entryOf(`old-archived-${n}`, TaskStatus.Archived, old),
          entryOf(`old-waiting-${n}`, TaskStatus.Enqueued, old),
          entryOf(`old-running-${n}`, TaskStatus.Enqueued, old),
          entryOf(`recent-failed-${n}`, TaskStatus.Failed, new Date()),
        ]);
        expect(await log.claim(`old-running-${n}`, 'test-worker', 60_000)).toMatchObject({ outcome: 'claimed' });
        const cutoff = new Date(Date.now() - 30 * DAY);

        // Cancelled and archived entries without finishedAt count from updatedAt.
        expect(await log.prune({ olderThan: cutoff, statuses: [TaskStatus.Cancelled] })).toBe(1);
        expect(await log.get(`old-cancelled-${n}`)).toBeNull();
        expect(await log.prune({ olderThan: cutoff })).toBe(1_202);
        expect(await log.prune({ olderThan: cutoff })).toBe(0);
        expect((await log.search()).map((e) => e.id).sort()).toEqual([`old-running-${n}`, `old-waiting-${n}`, `recent-failed-${n}`]);

        // A cutoff ahead of now takes every ended entry, and still no waiting or running one.
        expect(await log.prune({ olderThan: new Date(Date.now() + 60_000) })).toBe(1);
        expect(await log.getStatus(`old-waiting-${n}`)).toBe(TaskStatus.Enqueued);
        expect(await log.getStatus(`old-running-${n}`)).toBe(TaskStatus.Running);
      });

      test('a run that ended is pruned by when it ended, not when it was created', async () => {
        const task = new Tally({});
        await dispatcher.enqueue(task, { queue: a });
        if (!options.sync) await withWorker(() => dispatcher.taskLog.waitForEnd([task.id], { timeoutMs: 20_000 }));
        const ended = (await dispatcher.taskLog.get(task.id))?.finishedAt as Date;
        expect(ended).toBeInstanceOf(Date);
        expect(await dispatcher.taskLog.prune({ olderThan: new Date(ended.getTime() - 5_000) })).toBe(0);
        expect(await dispatcher.taskLog.prune({ olderThan: new Date(ended.getTime() + 5_000) })).toBe(1);
        expect(await dispatcher.taskLog.get(task.id)).toBeNull();
      });

      test('refuses a status that has not ended, and a cutoff that is not a date', async () => {
        const log = dispatcher.taskLog;
        await expect(log.prune({ olderThan: new Date(), statuses: [TaskStatus.Completed, TaskStatus.Running] })).rejects.toThrow(
          new ConfigError('prune: statuses may only name ended statuses (completed, failed, cancelled, archived), got running'),
        );
        await expect(log.prune({ olderThan: new Date('nope') })).rejects.toThrow(new ConfigError('prune: olderThan must be a valid Date, got Invalid Date'));
        expect(await log.prune({ olderThan: new Date(), statuses: [] })).toBe(0);
      });
    });
  });
}
