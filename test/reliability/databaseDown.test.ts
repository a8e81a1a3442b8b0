/**
 * A worker whose PostgreSQL server goes down for 30 s keeps its process, retries with back-off,
 * logs each failure once with the next retry time, and resumes without a restart: the tasks it
 * held come back after their lease, and every task runs once. On a server of the test's own
 * (the shared one stays up for the other tests).
 */
import { readFileSync } from 'node:fs';
import { AbstractTask, Queue, QueueDispatcher, RdsQueueBroker, RdsTaskLogBroker, TaskLog, silentLogger } from '../../src';
import { CliProject, collect } from '../helpers/cliProject';
import { type ThrowawayPostgres, startThrowawayPostgres, throwawayPostgresProblem } from '../helpers/throwawayPostgres';
import { until, wait } from '../helpers/wait';

const DOWN_MS = 30_000;

/** The CLI project's Slow task, enqueued from here (the worker runs it and records each run). */
class Slow extends AbstractTask<{ ms: number }> {
  static override taskName = 'Slow';
  run(): void {
    throw new Error('runs in the worker process only');
  }
}

const problem = throwawayPostgresProblem();
if (problem) {
  console.warn(`cannot start a PostgreSQL server of its own (${problem}): the database-down test is skipped`);
  test.skip(`a worker rides out its database down for 30 s (${problem})`, () => undefined);
} else {
  test('a worker rides out its PostgreSQL server down for 30 s: same process, back-off, one line per failure, nothing lost or run twice', async () => {
    let server: ThrowawayPostgres | undefined;
    let project: CliProject | undefined;
    let dispatcher: QueueDispatcher | undefined;
    const worker: { child?: ReturnType<CliProject['spawn']>; ended?: ReturnType<typeof collect> } = {};
    try {
      server = await startThrowawayPostgres();
      const url = server.url;
      project = new CliProject({ queues: [{ name: 'standard', broker: { type: 'rds', connection: url } }], taskLog: { type: 'rds', connection: url }, tasks: ['./tasks.js'] });
      dispatcher = new QueueDispatcher({
        queues: [new Queue('standard', new RdsQueueBroker({ connection: url }))],
        taskLog: new TaskLog(new RdsTaskLogBroker({ connection: url })),
        tasks: [Slow],
        logger: silentLogger,
      });
      await dispatcher.initialize();
      worker.child = project.spawn(['run-worker', '--concurrency=5', '--lease-ms=3000']);
      worker.ended = collect(worker.child);
      const runs = () => (readFileSyncOr(project?.runsFile).match(/\n/g) ?? []).length;

      const before = await dispatcher.enqueueMany(Array.from({ length: 10 }, () => new Slow({ ms: 20 })));
      // Two of them running when the server goes: their results cannot be written.
      const held = await dispatcher.enqueueMany([new Slow({ ms: 1_500 }), new Slow({ ms: 1_500 })]);
      await until(() => runs() >= 12, 20_000, 'the first tasks to start');
      await dispatcher.close();
      dispatcher = undefined;

      server.stop();
      await wait(DOWN_MS);
      expect(worker.child.exitCode).toBeNull();
      server.start();

      dispatcher = new QueueDispatcher({ queues: [new Queue('standard', new RdsQueueBroker({ connection: url }))], taskLog: new TaskLog(new RdsTaskLogBroker({ connection: url })), tasks: [Slow], logger: silentLogger });
      const after = await dispatcher.enqueueMany(Array.from({ length: 10 }, () => new Slow({ ms: 20 })));
      const all = [...before, ...held, ...after];
      await until(async () => (await dispatcher?.taskLog.getStats())?.completed === all.length, 30_000, 'every task completed after the restart');
      expect(worker.child.exitCode).toBeNull(); // the same process throughout

      // Each task ran once, but the two that were running when the server went: their results
      // could not be written, so they ran again after their lease (at most once more each).
      const lines = readFileSyncOr(project.runsFile).trim().split('\n');
      for (const task of [...before, ...after]) expect(lines.filter((id) => id === task.id)).toHaveLength(1);
      for (const task of held) expect(lines.filter((id) => id === task.id).length).toBeGreaterThanOrEqual(1);
      for (const task of held) expect(lines.filter((id) => id === task.id).length).toBeLessThanOrEqual(2);

      worker.child.kill('SIGTERM');
      const { stderr, code } = await worker.ended;
      expect(code).toBe(0);
      // What the outage logged, by message (a worker must not flood its log).
      const messages = stderr.split('\n').filter(Boolean).map((line) => messageOf(line).replace(/\d+/g, 'N').slice(0, 90));
      const byMessage = new Map<string, number>();
      for (const m of messages) byMessage.set(m, (byMessage.get(m) ?? 0) + 1);
      console.log(`log lines of the worker: ${messages.length}\n${[...byMessage].map(([m, n]) => `${n} × ${m}`).join('\n')}`);
      expect(messages.length).toBeLessThan(120);
      const failures = stderr.split('\n').filter((line) => line.includes('trying again in'));
      const delays = failures.map((line) => Number(/trying again in (\d+) ms/.exec(line)?.[1]));
      // Back-off: doubling from 100 ms to 5 s, so a 30 s outage is a dozen lines, not hundreds.
      expect(failures.length).toBeGreaterThanOrEqual(5);
      expect(failures.length).toBeLessThanOrEqual(20);
      expect(delays.slice(0, 4)).toEqual([100, 200, 400, 800]);
      expect(Math.max(...delays)).toBe(5_000);
      expect(stderr).toMatch(/receiving works again after \d+ failures/);
    } finally {
      worker.child?.kill('SIGKILL');
      await worker.ended;
      await dispatcher?.close();
      server?.destroy();
      project?.remove();
    }
  }, 120_000);
}

function readFileSyncOr(path: string | undefined): string {
  try {
    return path ? readFileSync(path, 'utf8') : '';
  } catch {
    return '';
  }
}

/** A log line's message (pino's JSON), or the line as it is. */
function messageOf(line: string): string {
  try {
    return String((JSON.parse(line) as { msg?: unknown }).msg ?? line);
  } catch {
    return line;
  }
}
