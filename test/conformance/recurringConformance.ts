/**
 * Recurring tasks (Scheduler) on every broker: two schedulers, as two worker processes have, on
 * two dispatchers sharing the broker's storage, enqueue the same ticks, and each tick must RUN
 * exactly once (counted by the task's side effect, not by log entries). Sync brokers run the
 * ticks inside enqueue and have no worker.
 */
import { AbstractTask, Queue, QueueDispatcher, Scheduler, TaskLog, TaskStatus, silentLogger, type ScheduleDefinition, type TaskContext } from '../../src';
import { until, wait } from '../helpers/wait';
import type { BrokerUnderTest } from './queueBrokerConformance';
import { whileWorkersRun } from '../helpers/workers';

/** Runs per task id: the side effect that shows a tick ran, and how often. */
const runs = new Map<string, number>();

class Beat extends AbstractTask<Record<string, never>> {
  static override taskName = 'Beat';
  async run(ctx: TaskContext): Promise<string> {
    runs.set(ctx.taskId, (runs.get(ctx.taskId) ?? 0) + 1);
    // Long enough for a duplicate message to arrive while the first run holds the task.
    await new Promise((resolve) => setTimeout(resolve, 20));
    return 'beat';
  }
}

export interface RecurringOptions {
  /** The broker runs tasks at enqueue time: no worker. */
  sync?: boolean;
}

export function describeRecurring(name: string, make: () => Promise<BrokerUnderTest>, options: RecurringOptions = {}): void {
  describe(`${name}: recurring tasks`, () => {
    let sut: BrokerUnderTest;
    let dispatchers: [QueueDispatcher, QueueDispatcher];
    let n = 0;

    beforeEach(async () => {
      sut = await make();
      runs.clear();
      const q = `recurring_${++n}`;
      // Two "processes": a queue broker and a TaskLog object each, the storage shared.
      const dispatcherOn = (broker: BrokerUnderTest['queueBroker']) => new QueueDispatcher({ queues: [new Queue(q, broker)], taskLog: new TaskLog(sut.taskLogBroker), tasks: [Beat], logger: silentLogger });
      dispatchers = [dispatcherOn(sut.queueBroker), dispatcherOn(sut.second ?? sut.queueBroker)];
      await dispatchers[0].initialize();
    });

    afterEach(() => sut.cleanup());

    /** Runs `body` with a worker on each dispatcher (none on a sync broker), given `schedules`. */
    async function withWorkers<T>(schedules: ScheduleDefinition[], body: () => Promise<T>): Promise<T> {
      if (options.sync) {
        const schedulers = dispatchers.map((d) => new Scheduler(d, schedules, { logger: silentLogger }));
        await Promise.all(schedulers.map((s) => s.start()));
        try {
          return await body();
        } finally {
          await Promise.all(schedulers.map((s) => s.stop()));
        }
      }
      return whileWorkersRun(dispatchers, body, { schedules, concurrency: 2 });
    }

    async function ended(ids: readonly string[]): Promise<void> {
      await dispatchers[0].taskLog.waitForEnd(ids, { timeoutMs: 20_000 });
      // Duplicate messages of a tick (two schedulers pushed it where the push and the log write
      // are not one transaction) are delivered meanwhile, and must not run it again.
      await wait(sut.leaseMs !== undefined && sut.leaseMs >= 1_000 ? 1_500 : 300);
    }

    test('two schedulers enqueueing the same ticks at once: one entry and one run per tick', async () => {
      const schedule = { name: 'hourly', cron: '0 * * * *', task: 'Beat' };
      const [a, b] = dispatchers.map((d) => new Scheduler(d, [schedule], { logger: silentLogger }));
      const ticks = [0, 1, 2, 3, 4].map((h) => new Date(Date.UTC(2026, 10, 30, h)));
      const ids = ticks.map((tick) => a.schedules[0].taskIdOf(tick));
      await withWorkers([], async () => {
        for (const tick of ticks) {
          const outcomes = await Promise.all([a.enqueueTick('hourly', tick), b.enqueueTick('hourly', tick)]);
          expect(outcomes).toContain('enqueued');
        }
        await ended(ids);
      });
      expect(ids.map((id) => runs.get(id) ?? 0)).toEqual([1, 1, 1, 1, 1]);
      const entries = await Promise.all(ids.map((id) => dispatchers[1].taskLog.get(id)));
      expect(entries.map((e) => [e?.status, e?.attempts])).toEqual(ids.map(() => [TaskStatus.Completed, 1]));
      // A tick enqueued again later (a late scheduler) is not run again either.
      expect(await b.enqueueTick('hourly', ticks[0])).toBe('exists');
    });

    test('every second, a scheduler in each of two workers: every tick runs once, none missed', async () => {
      const schedules = [{ name: 'every-second', cron: '* * * * * *', task: 'Beat' }];
      await withWorkers(schedules, async () => {
        await until(() => runs.size >= 3, 15_000, 'three ticks');
      });
      const ids = [...runs.keys()].sort();
      await ended(ids);
      expect(ids.map((id) => runs.get(id))).toEqual(ids.map(() => 1));
      const seconds = ids.map((id) => Date.parse(id.slice('cron:every-second@'.length)) / 1000);
      expect(seconds.at(-1)! - seconds[0]).toBe(seconds.length - 1);
    });

    test('a tick missed while no scheduler ran: run once at start-up with catchUp, skipped without', async () => {
      // Not across a minute's boundary: the latest tick must stay the one computed here.
      const msToNextMinute = 60_000 - (Date.now() % 60_000);
      if (msToNextMinute < 5_000) await wait(msToNextMinute + 100);
      const probe = new Scheduler(dispatchers[0], [{ name: 'caught', cron: '* * * * *', task: 'Beat' }]);
      const now = new Date();
      const last = probe.schedules[0].lastTick(now)!;
      const earlier = new Date(last.getTime() - 120_000);
      // Both schedules ran two minutes before their latest tick; every worker was down since.
      for (const name of ['caught', 'skipped']) {
        const seed = new Scheduler(dispatchers[0], [{ name, cron: '* * * * *', task: 'Beat' }], { logger: silentLogger });
        await seed.enqueueTick(name, earlier);
      }
      const schedules = [
        { name: 'caught', cron: '* * * * *', task: 'Beat', catchUp: true },
        { name: 'skipped', cron: '* * * * *', task: 'Beat' },
      ];
      const caughtId = probe.schedules[0].taskIdOf(last);
      const skippedId = caughtId.replace('cron:caught@', 'cron:skipped@');
      await withWorkers(schedules, async () => {
        await dispatchers[0].taskLog.waitForEnd([caughtId], { timeoutMs: 20_000 });
      });
      await ended([caughtId]);
      expect(runs.get(caughtId)).toBe(1);
      expect(runs.get(skippedId)).toBeUndefined();
      expect(await dispatchers[0].taskLog.get(skippedId)).toBeNull();
    });
  });
}
