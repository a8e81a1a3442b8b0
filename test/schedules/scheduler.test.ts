import { z } from 'zod';
import { AbstractTask, ConfigError, InMemoryQueueBroker, InMemoryTaskLogBroker, Queue, QueueDispatcher, Scheduler, TaskLog, TaskStatus, Worker, createDispatcher, defineCallback, parseConfig, silentLogger, type TaskContext } from '../../src';
import { until, wait } from '../helpers/wait';

const runs = new Map<string, number>();

class Tick extends AbstractTask<{ note?: string }> {
  static override taskName = 'Tick';
  static override params = z.object({ note: z.string().optional() });
  run(ctx: TaskContext): string {
    runs.set(ctx.taskId, (runs.get(ctx.taskId) ?? 0) + 1);
    return this.getParameter('note') ?? 'tick';
  }
}
const ping = defineCallback('ping', (args) => `pong ${String(args)}`);

function dispatcherOn(taskLogBroker = new InMemoryTaskLogBroker(), queueBroker = new InMemoryQueueBroker({ sync: false })): QueueDispatcher {
  return new QueueDispatcher({ queues: [new Queue('standard', queueBroker), new Queue('other', queueBroker)], taskLog: new TaskLog(taskLogBroker), tasks: [Tick, ping], logger: silentLogger });
}

beforeEach(() => runs.clear());

describe('Scheduler.enqueueTick', () => {
  test('a tick is enqueued once, under its id, whoever enqueues it; a second time it exists', async () => {
    const dispatcher = dispatcherOn();
    const a = new Scheduler(dispatcher, [{ name: 'hourly', cron: '0 * * * *', task: 'Tick', queue: 'other' }]);
    const b = new Scheduler(dispatcher, [{ name: 'hourly', cron: '0 * * * *', task: 'Tick', queue: 'other' }]);
    const tick = new Date('2026-11-30T05:00:00Z');
    const outcomes = await Promise.all([a.enqueueTick('hourly', tick), b.enqueueTick('hourly', tick)]);
    expect(outcomes).toContain('enqueued');
    expect(await a.enqueueTick('hourly', tick)).toBe('exists');
    const entry = await dispatcher.taskLog.get('cron:hourly@2026-11-30T05:00:00Z');
    expect(entry).toMatchObject({ taskName: 'Tick', queue: 'other', label: 'schedule hourly', status: TaskStatus.Enqueued });
    expect(await dispatcher.taskLog.count()).toBe(1);
    await dispatcher.close();
  });

  test('on the sync memory queue the tick runs inside enqueueTick, once', async () => {
    const dispatcher = dispatcherOn(new InMemoryTaskLogBroker(), new InMemoryQueueBroker());
    const a = new Scheduler(dispatcher, [{ name: 's', cron: '* * * * * *', task: 'Tick' }]);
    const b = new Scheduler(dispatcher, [{ name: 's', cron: '* * * * * *', task: 'Tick' }]);
    const tick = new Date('2026-11-30T05:00:01Z');
    await Promise.all([a.enqueueTick('s', tick), b.enqueueTick('s', tick), a.enqueueTick('s', tick)]);
    expect([...runs]).toEqual([['cron:s@2026-11-30T05:00:01Z', 1]]);
    expect(await dispatcher.taskLog.getStatus('cron:s@2026-11-30T05:00:01Z')).toBe(TaskStatus.Completed);
    await dispatcher.close();
  });

  test('a callback by name, with its argument', async () => {
    const dispatcher = dispatcherOn(new InMemoryTaskLogBroker(), new InMemoryQueueBroker());
    const scheduler = new Scheduler(dispatcher, [{ name: 'p', cron: '* * * * *', task: 'ping', params: 'there' }]);
    await scheduler.start();
    await scheduler.enqueueTick('p', new Date('2026-11-30T05:00:00Z'));
    await scheduler.stop();
    expect((await dispatcher.taskLog.get('cron:p@2026-11-30T05:00:00Z'))?.report?.data).toBe('pong there');
    await dispatcher.close();
  });
});

describe('Scheduler.start', () => {
  test('every second, two workers each with the schedule: every tick runs once, and nothing after stop', async () => {
    const log = new InMemoryTaskLogBroker();
    const broker = new InMemoryQueueBroker({ sync: false });
    const schedules = [{ name: 'every-second', cron: '* * * * * *', task: 'Tick' }];
    const workers = [dispatcherOn(log, broker), dispatcherOn(log, broker)].map((d) => new Worker(d, { schedules, idleMaxMs: 20, logger: silentLogger }));
    const running = workers.map((w) => w.run());
    await wait(3_300);
    await Promise.all(workers.map((w) => w.stop()));
    await Promise.all(running);
    const ticks = [...runs.keys()].sort();
    expect(ticks.length).toBeGreaterThanOrEqual(3);
    expect([...runs.values()].every((n) => n === 1)).toBe(true);
    // Consecutive seconds: none missed while the workers ran.
    const seconds = ticks.map((id) => Date.parse(id.slice('cron:every-second@'.length)) / 1000);
    expect(seconds.at(-1)! - seconds[0]).toBe(seconds.length - 1);
    const count = runs.size;
    await wait(1_200);
    expect(runs.size).toBe(count);
  });

  test('a task that is not registered, or params its schema refuses: a ConfigError naming the schedule and field', async () => {
    const dispatcher = dispatcherOn();
    await expect(new Scheduler(dispatcher, [{ name: 'x', cron: '* * * * *', task: 'Nope' }]).start()).rejects.toThrow(new ConfigError('schedules[0].task: schedule "x": no registered task or callback is named "Nope" (registered: CallbackTask:ping, Tick)'));
    await expect(new Scheduler(dispatcher, [{ name: 'ok', cron: '* * * * *', task: 'Tick' }, { name: 'y', cron: '* * * * *', task: 'Tick', params: { note: 3 } }]).start()).rejects.toThrow(/^schedules\[1\]\.params: schedule "y": Task "Tick" params are invalid: note: /);
    const worker = new Worker(dispatcher, { schedules: [{ name: 'x', cron: '* * * * *', task: 'Nope' }], logger: silentLogger });
    await expect(worker.run()).rejects.toThrow(ConfigError);
    expect(worker.status).toBe('stopped');
    await dispatcher.close();
  });

  test('names given twice and unknown queues are refused at construction', () => {
    const dispatcher = dispatcherOn();
    expect(() => new Scheduler(dispatcher, [{ name: 'a', cron: '* * * * *', task: 'Tick' }, { name: 'a', cron: '0 * * * *', task: 'Tick' }])).toThrow('schedules[1].name: schedule "a" is defined twice');
    expect(() => new Scheduler(dispatcher, [{ name: 'a', cron: '* * * * *', task: 'Tick', queue: 'nowhere' }])).toThrow('schedules[0].queue: schedule "a": unknown queue "nowhere" (queues: standard, other)');
  });
});

describe('Scheduler: a tick missed while no scheduler ran', () => {
  async function startAfterDowntime(catchUp: boolean, ranBefore: boolean) {
    const dispatcher = dispatcherOn(new InMemoryTaskLogBroker(), new InMemoryQueueBroker());
    const schedule = { name: 'minutely', cron: '* * * * *', task: 'Tick', catchUp };
    const first = new Scheduler(dispatcher, [schedule]);
    const last = first.schedules[0].lastTick(new Date())!;
    // The schedule ran three minutes ago; the workers were down since.
    if (ranBefore) await first.enqueueTick('minutely', new Date(last.getTime() - 180_000));
    const schedulers = [new Scheduler(dispatcher, [schedule]), new Scheduler(dispatcher, [schedule])];
    await Promise.all(schedulers.map((s) => s.start()));
    await Promise.all(schedulers.map((s) => s.stop()));
    const lastId = first.schedules[0].taskIdOf(last);
    const result = { lastRuns: runs.get(lastId) ?? 0, entries: await dispatcher.taskLog.count() };
    await dispatcher.close();
    return result;
  }

  test('catchUp: the latest one runs once at start-up, however many schedulers start', async () => {
    expect(await startAfterDowntime(true, true)).toEqual({ lastRuns: 1, entries: 2 });
  });

  test('without catchUp it is skipped', async () => {
    expect(await startAfterDowntime(false, true)).toEqual({ lastRuns: 0, entries: 1 });
  });

  test('a schedule that never ran does not start with a tick from before it existed', async () => {
    expect(await startAfterDowntime(true, false)).toEqual({ lastRuns: 0, entries: 0 });
  });
});

describe('Scheduler.describe', () => {
  test('next runs, queue, and the latest tick with its status', async () => {
    const dispatcher = dispatcherOn(new InMemoryTaskLogBroker(), new InMemoryQueueBroker());
    const scheduler = new Scheduler(dispatcher, [
      { name: 'nightly', cron: '0 3 * * *', task: 'Tick', timezone: 'Europe/Paris', queue: 'other' },
      { name: 'hourly', cron: '@hourly', task: 'ping', params: 'x' },
    ]);
    await scheduler.enqueueTick('nightly', new Date('2026-11-29T02:00:00Z'));
    await scheduler.enqueueTick('nightly', new Date('2026-11-30T02:00:00Z'));
    const [nightly, hourly] = await scheduler.describe(2, new Date('2026-11-30T10:00:00Z'));
    expect(nightly).toEqual({
      name: 'nightly', cron: '0 3 * * *', timezone: 'Europe/Paris', task: 'Tick', queue: 'other', catchUp: false,
      nextRuns: [new Date('2026-12-01T02:00:00Z'), new Date('2026-12-02T02:00:00Z')],
      lastTick: { at: new Date('2026-11-30T02:00:00Z'), taskId: 'cron:nightly@2026-11-30T02:00:00Z', status: TaskStatus.Completed },
    });
    expect(hourly).toMatchObject({ queue: 'standard', timezone: 'UTC', nextRuns: [new Date('2026-11-30T11:00:00Z'), new Date('2026-11-30T12:00:00Z')], lastTick: null });
    await dispatcher.close();
  });
});

describe('config: schedules', () => {
  const base = { queues: [{ name: 'standard', broker: { type: 'memory' } }], taskLog: { type: 'memory' } };
  const refused = (schedules: unknown[]) => {
    try {
      parseConfig({ ...base, schedules }, 'taskq.config.json');
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError);
      return (error as Error).message;
    }
    throw new Error('accepted');
  };

  test('one clear error naming the schedule and the field', () => {
    expect(refused([{ name: 'n', cron: '* * * * * * * *', task: 'T' }])).toMatch(/^taskq\.config\.json: schedules\[0\]\.cron: schedule "n": invalid cron expression "\* \* \* \* \* \* \* \*"/);
    expect(refused([{ name: 'n', cron: '* * * * *', task: 'T', timezone: 'Europe/Pariss' }])).toBe('taskq.config.json: schedules[0].timezone: schedule "n": unknown time zone "Europe/Pariss" (an IANA name such as Europe/Paris or America/New_York)');
    expect(refused([{ name: 'n', cron: '* * * * *' }])).toMatch(/^taskq\.config\.json: schedules\[0\]\.task: /);
    expect(refused([{ name: 'n', cron: '* * * * *', task: 'T', queue: 'q' }])).toBe('taskq.config.json: schedules[0].queue: schedule "n": unknown queue "q" (queues: standard)');
    expect(refused([{ name: 'n', cron: '* * * * *', task: 'T' }, { name: 'n', cron: '* * * * *', task: 'T' }])).toBe('taskq.config.json: schedules[1].name: schedule "n" is defined twice');
  });

  test("a worker of a dispatcher built from the config runs the config's schedules", async () => {
    const dispatcher = await createDispatcher({ ...parseConfig({ queues: [{ name: 'standard', broker: { type: 'memory', sync: false } }], taskLog: { type: 'memory' }, schedules: [{ name: 'every-second', cron: '* * * * * *', task: 'Tick' }] }), tasks: [Tick] }, { logger: silentLogger });
    const worker = new Worker(dispatcher, { idleMaxMs: 20, logger: silentLogger });
    const running = worker.run();
    await until(() => runs.size >= 1, 5_000, 'a tick');
    await worker.stop();
    await running;
    expect([...runs.keys()][0]).toMatch(/^cron:every-second@/);
    await dispatcher.close();
  });
});
