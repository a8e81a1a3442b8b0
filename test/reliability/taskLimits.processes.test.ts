/**
 * Rate and concurrency limits across real worker processes (issue 9's "a rate limit of 10 per
 * second holds within 10 % over 30 s with 3 workers"): three `taskq run-worker` processes, each
 * with room for 10 tasks at once, on a queue limited to 10 starts a second and a task limited to
 * 5 running at once, on SQLite and on PostgreSQL. The figures come from the task log's own clock.
 */
import type { ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { AbstractTask, Queue, QueueDispatcher, RdsQueueBroker, RdsTaskLogBroker, TaskLog, TaskLogFilter, TaskStatus, silentLogger, type TaskLogEntry } from '../../src';
import { CliProject } from '../helpers/cliProject';
import { mostInWindow } from '../helpers/timeWindows';
import { usePostgresDatabase } from '../helpers/postgres';
import { until } from '../helpers/wait';

class Hello extends AbstractTask<{ name: string }> {
  static override taskName = 'Hello';
  run(): void {}
}

class Slow extends AbstractTask<{ ms: number }> {
  static override taskName = 'Slow';
  run(): void {}
}

const RUN_MS = 30_000;
const RATE = { max: 10, perMs: 1_000 };

/** The most intervals [startedAt, finishedAt) open at once (an end before a start at the same ms). */
function mostAtOnce(entries: TaskLogEntry[]): number {
  const events = entries.flatMap((e) => [
    [(e.startedAt as Date).getTime(), 1],
    [(e.finishedAt as Date).getTime(), -1],
  ]);
  events.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  let open = 0;
  let most = 0;
  for (const [, step] of events) most = Math.max(most, (open += step));
  return most;
}

function stop(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null) return resolve();
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
  });
}

const pgUrl = usePostgresDatabase('limits across processes');
const databases: [string, (dir: string) => string][] = [['sqlite', (dir) => `sqlite:${join(dir, 'taskq.db')}`]];
if (pgUrl) databases.push(['postgres', () => pgUrl]);

describe.each(databases)('limits across 3 worker processes on %s', (_name, connectionIn) => {
  let project: CliProject;
  let dispatcher: QueueDispatcher;
  let workers: ChildProcess[] = [];

  beforeAll(async () => {
    project = new CliProject();
    const connection = connectionIn(project.dir);
    const broker = { type: 'rds', connection, receive: 10 };
    project.writeConfig({
      queues: [
        { name: 'mail', rateLimit: RATE, broker },
        { name: 'exports', broker },
      ],
      associations: { Hello: 'mail', Slow: 'exports' },
      maxConcurrent: { Slow: 5 },
      taskLog: { type: 'rds', connection, table: 'limits_log' },
      tasks: ['./tasks.js'],
    });
    const init = await project.run(['initialize-queue']);
    expect(init.stderr).toBe('');
    const queueBroker = new RdsQueueBroker({ connection });
    dispatcher = new QueueDispatcher({
      queues: [new Queue('mail', queueBroker), new Queue('exports', queueBroker)],
      associations: { Hello: 'mail', Slow: 'exports' },
      taskLog: new TaskLog(new RdsTaskLogBroker({ connection, table: 'limits_log' })),
      tasks: [Hello, Slow],
      logger: silentLogger,
    });
    // More than 30 s of mail at 10 a second, and exports enough to keep 5 busy.
    await dispatcher.enqueueMany(Array.from({ length: 420 }, (_, i) => new Hello({ name: `m${i}` })));
    await dispatcher.enqueueMany(Array.from({ length: 60 }, () => new Slow({ ms: 200 })));
    workers = [0, 1, 2].map(() => project.spawn(['run-worker', '--concurrency', '10']));
    const startedHello = new TaskLogFilter().eq('taskName', 'Hello').neq('status', TaskStatus.Enqueued);
    await until(async () => (await dispatcher.taskLog.count(startedHello)) > 0, 30_000);
    // 30 s of the limit, and a little more, before the workers are stopped.
    await new Promise((resolve) => setTimeout(resolve, RUN_MS + 2_000));
    await until(async () => (await dispatcher.taskLog.count(new TaskLogFilter().eq('taskName', 'Slow').eq('status', TaskStatus.Completed))) === 60, 60_000);
  }, 180_000);

  afterAll(async () => {
    await Promise.all(workers.map(stop));
    await dispatcher?.close();
    project?.remove();
  }, 60_000);

  test('10 starts a second hold within 10 % over 30 s, and never more than 10 in any second', async () => {
    const started = (await dispatcher.taskLog.search(new TaskLogFilter().eq('taskName', 'Hello').neq('status', TaskStatus.Enqueued).limit(1_000))).map((e) => (e.startedAt as Date).getTime());
    const first = Math.min(...started);
    const inThirty = started.filter((at) => at < first + RUN_MS).length;
    const most = mostInWindow(started, RATE.perMs);
    console.log(`rate limit ${RATE.max}/s: ${inThirty} starts in the first 30 s (expected 300), at most ${most} in any 1 s window, ${started.length} started in all`);
    expect(inThirty).toBeGreaterThanOrEqual(270);
    expect(inThirty).toBeLessThanOrEqual(330);
    expect(most).toBeLessThanOrEqual(RATE.max);
  });

  test('maxConcurrent 5: never more than 5 Slow running at once, and every one completed on its first attempt', async () => {
    const slow = await dispatcher.taskLog.search(new TaskLogFilter().eq('taskName', 'Slow').limit(100));
    expect(slow).toHaveLength(60);
    for (const entry of slow) expect(entry).toMatchObject({ status: TaskStatus.Completed, attempts: 1 });
    const most = mostAtOnce(slow);
    console.log(`maxConcurrent 5: at most ${most} Slow running at once`);
    expect(most).toBeLessThanOrEqual(5);
    expect(most).toBeGreaterThanOrEqual(3);
  });
});
