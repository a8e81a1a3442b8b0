/**
 * The Scheduler's timer under a clock that jumps, with jest's fake clock: the sync memory queue
 * runs each tick inside its enqueue, so what ran is known as soon as the timers have fired.
 */
import { AbstractTask, InMemoryQueueBroker, InMemoryTaskLogBroker, Queue, QueueDispatcher, Scheduler, TaskLog, type Logger, type TaskContext } from '../../src';

const runs = new Map<string, number>();
class Tick extends AbstractTask<Record<string, never>> {
  static override taskName = 'Tick';
  run(ctx: TaskContext): void {
    runs.set(ctx.taskId, (runs.get(ctx.taskId) ?? 0) + 1);
  }
}

const warnings: string[] = [];
const logger: Logger = { debug: () => undefined, info: () => undefined, warn: (message: string) => void warnings.push(message), error: (message: string) => void warnings.push(message) } as unknown as Logger;

const second = (iso: string) => `cron:s@${iso}`;
const T0 = Date.parse('2026-11-30T00:00:00.500Z');

let dispatcher: QueueDispatcher;
let scheduler: Scheduler;

beforeEach(async () => {
  jest.useFakeTimers({ now: T0 });
  runs.clear();
  warnings.length = 0;
  dispatcher = new QueueDispatcher({ queues: [new Queue('standard', new InMemoryQueueBroker())], taskLog: new TaskLog(new InMemoryTaskLogBroker()), tasks: [Tick], logger });
  scheduler = new Scheduler(dispatcher, [{ name: 's', cron: '* * * * * *', task: 'Tick' }], { logger });
  await scheduler.start();
});

afterEach(async () => {
  await scheduler.stop();
  await dispatcher.close();
  jest.useRealTimers();
});

test('one timer, to the next tick: each second runs once, and stop leaves no timer', async () => {
  expect(jest.getTimerCount()).toBe(1);
  await jest.advanceTimersByTimeAsync(3_000);
  expect([...runs]).toEqual([second('2026-11-30T00:00:01Z'), second('2026-11-30T00:00:02Z'), second('2026-11-30T00:00:03Z')].map((id) => [id, 1]));
  // The sync queue's runner keeps a timer of its own: the scheduler's is the one that goes.
  const timers = jest.getTimerCount();
  await scheduler.stop();
  expect(jest.getTimerCount()).toBe(timers - 1);
});

test('a clock set back does not run a tick again', async () => {
  await jest.advanceTimersByTimeAsync(3_000);
  jest.setSystemTime(Date.now() - 5_000);
  await jest.advanceTimersByTimeAsync(6_000);
  expect([...runs.values()].every((n) => n === 1)).toBe(true);
  expect([...runs.keys()]).toContain(second('2026-11-30T00:00:04Z'));
  expect(warnings.join('\n')).toMatch(/the clock went back/);
});

test('a clock that jumps forward: the ticks of the last 60 s run, older ones are skipped with a warning', async () => {
  await jest.advanceTimersByTimeAsync(1_000);
  runs.clear();
  jest.setSystemTime(Date.now() + 3_600_000);
  await jest.advanceTimersByTimeAsync(1_000);
  expect(runs.size).toBeGreaterThanOrEqual(60);
  expect(runs.size).toBeLessThanOrEqual(62);
  expect([...runs.values()].every((n) => n === 1)).toBe(true);
  expect(warnings.join('\n')).toMatch(/more than 60 s late .*: skipped/);
});

test('a failed enqueue is tried again with back-off, and the tick runs once', async () => {
  const taskLog = dispatcher.taskLog;
  const get = taskLog.get.bind(taskLog);
  let failures = 2;
  jest.spyOn(taskLog, 'get').mockImplementation(async (id) => {
    if (failures > 0) {
      failures--;
      throw new Error('database unavailable');
    }
    return get(id);
  });
  await jest.advanceTimersByTimeAsync(3_000);
  expect(warnings.filter((w) => /could not be enqueued: database unavailable/.test(w))).toHaveLength(2);
  expect([...runs.keys()]).toContain(second('2026-11-30T00:00:01Z'));
  expect([...runs.values()].every((n) => n === 1)).toBe(true);
});
