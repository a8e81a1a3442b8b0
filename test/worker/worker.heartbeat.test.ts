import { mkdtempSync, rmSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { AbstractTask, ConfigError, InMemoryQueueBroker, InMemoryTaskLogBroker, Queue, QueueDispatcher, RdsQueueBroker, RdsTaskLogBroker, TaskLog, Worker, silentLogger, type Logger, type TaskContext } from '../../src';
import { until } from '../helpers/wait';

class Tick extends AbstractTask<{ fail?: boolean }> {
  static override taskName = 'Tick';
  async run(_ctx: TaskContext) {
    if (this.getParameter('fail')) throw new Error('tick failed');
    return 'tick';
  }
}

/** A logger that keeps the info and warning lines, to see what the worker said. */
function keepingLogger(): Logger & { infos: string[]; warnings: string[] } {
  const infos: string[] = [];
  const warnings: string[] = [];
  return { ...silentLogger, infos, warnings, info: (message: string) => void infos.push(message), warn: (message: string) => void warnings.push(message) };
}

describe('Worker heartbeat (WorkerOptions.heartbeatMs)', () => {
  test('the worker writes its row at start, beats while running, says paused, and ends stopped with its tasks run', async () => {
    const dispatcher = new QueueDispatcher({
      queues: [new Queue('standard', new InMemoryQueueBroker({ sync: false })), new Queue('priority', new InMemoryQueueBroker({ sync: false }))],
      taskLog: new TaskLog(new InMemoryTaskLogBroker()),
      tasks: [Tick],
      logger: silentLogger,
    });
    await dispatcher.initialize();
    await dispatcher.enqueueMany([new Tick({}), new Tick({}), new Tick({ fail: true })]);
    const worker = new Worker(dispatcher, { heartbeatMs: 100, idleMaxMs: 20, logger: silentLogger });
    const running = worker.run();
    const row = async () => (await dispatcher.taskLog.listWorkers()).find((w) => w.id === worker.id);
    await until(async () => (await row())?.tasksRun === 3, 10_000, 'the three runs in the heartbeat');
    expect(await row()).toMatchObject({ host: hostname(), pid: process.pid, queues: ['standard', 'priority'], status: 'running', heartbeatMs: 100, alive: true });
    const firstSeen = (await row())!.lastSeenAt.getTime();
    await until(async () => (await row())!.lastSeenAt.getTime() > firstSeen, 10_000, 'a later beat');

    worker.pause();
    await until(async () => (await row())?.status === 'paused', 10_000, 'the paused beat');
    worker.resume();
    await until(async () => (await row())?.status === 'running', 10_000, 'the resumed beat');

    await worker.stop();
    await running;
    expect(await row()).toMatchObject({ status: 'stopped', tasksRun: 3, alive: false });
    await dispatcher.close();
  });

  test('a heartbeat that cannot be written is logged once and does not stop the worker', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'taskq-heartbeat-'));
    const connection = `sqlite:${join(dir, 'taskq.db')}`;
    const logBroker = new RdsTaskLogBroker({ connection });
    const logger = keepingLogger();
    const dispatcher = new QueueDispatcher({ queues: [new Queue('q', new RdsQueueBroker({ connection }))], taskLog: new TaskLog(logBroker), tasks: [Tick], logger });
    await dispatcher.initialize();
    // The workers table gone (a real failure of every write), as a database refusing them would.
    await logBroker.database.exec.run(`DROP TABLE ${logBroker.database.quote(`${logBroker.table}_workers`)}`);
    const worker = new Worker(dispatcher, { heartbeatMs: 100, idleMaxMs: 20, logger, lostTaskAfterMs: 0 });
    const running = worker.run();
    await until(() => logger.warnings.length > 0, 10_000, 'the heartbeat warning');
    await dispatcher.enqueueMany([new Tick({}), new Tick({})]);
    await until(() => worker.stats.completed === 2, 10_000, 'the tasks to run');
    const heartbeatWarnings = logger.warnings.filter((w) => w.includes('heartbeat'));
    expect(heartbeatWarnings).toHaveLength(1);
    expect(heartbeatWarnings[0]).toMatch(/could not write the worker heartbeat: .*workers/);
    // The table back: the next beat writes the row again, and says so once.
    await logBroker.createContainer();
    await until(async () => (await dispatcher.taskLog.listWorkers()).some((w) => w.id === worker.id && w.tasksRun === 2), 10_000, 'the row written again');
    expect(logger.infos).toContain('worker heartbeat written again');
    await worker.stop();
    await running;
    await dispatcher.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('a worker starting drops the rows of workers not seen for a day, and keeps the others', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'taskq-heartbeat-'));
    const connection = `sqlite:${join(dir, 'taskq.db')}`;
    const logBroker = new RdsTaskLogBroker({ connection });
    const dispatcher = new QueueDispatcher({ queues: [new Queue('q', new RdsQueueBroker({ connection }))], taskLog: new TaskLog(logBroker), tasks: [Tick], logger: silentLogger });
    await dispatcher.initialize();
    const row = { host: 'old-host', pid: 1, queues: ['q'], startedAt: new Date(), tasksRun: 5, status: 'running' as const, heartbeatMs: 10_000 };
    await dispatcher.taskLog.recordWorker({ ...row, id: 'gone-for-two-days' });
    await dispatcher.taskLog.recordWorker({ ...row, id: 'gone-for-an-hour' });
    const table = logBroker.database.quote(`${logBroker.table}_workers`);
    await logBroker.database.exec.run(`UPDATE ${table} SET last_seen_at = last_seen_at - ? WHERE id = ?`, [2 * 86_400_000, 'gone-for-two-days']);
    await logBroker.database.exec.run(`UPDATE ${table} SET last_seen_at = last_seen_at - ? WHERE id = ?`, [3_600_000, 'gone-for-an-hour']);
    expect((await dispatcher.taskLog.listWorkers()).map((w) => w.id).sort()).toEqual(['gone-for-an-hour', 'gone-for-two-days']);

    const worker = new Worker(dispatcher, { idleMaxMs: 20, logger: silentLogger, lostTaskAfterMs: 0 });
    const running = worker.run();
    await until(async () => (await dispatcher.taskLog.listWorkers()).every((w) => w.id !== 'gone-for-two-days'), 10_000, 'the old row to go');
    expect((await dispatcher.taskLog.listWorkers()).map((w) => [w.id, w.alive])).toEqual([
      ['gone-for-an-hour', false],
      [worker.id, true],
    ]);
    await worker.stop();
    await running;
    await dispatcher.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('heartbeatMs under 100 is refused, naming the option', () => {
    const dispatcher = new QueueDispatcher({ queues: [new Queue('q', new InMemoryQueueBroker({ sync: false }))], taskLog: new TaskLog(new InMemoryTaskLogBroker()), tasks: [Tick], logger: silentLogger });
    expect(() => new Worker(dispatcher, { heartbeatMs: 50 })).toThrow(ConfigError);
    expect(() => new Worker(dispatcher, { heartbeatMs: 50 })).toThrow(/heartbeatMs must be an integer >= 100, got 50/);
  });
});
