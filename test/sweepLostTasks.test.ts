/**
 * sweepLostTasks: a task whose message is gone ends failed instead of waiting forever; a task
 * whose message is still there is never touched. On memory, SQLite and PostgreSQL.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AbstractTask, InMemoryQueueBroker, Queue, QueueDispatcher, RdsTaskLogBroker, TaskLog, TaskLogFilter, TaskStatus, Worker, silentLogger, sweepLostTasks, type TaskContext } from '../src';
import { type BrokerSetup, deliverySetups } from './helpers/brokerSetups';
import { usePostgresDatabase } from './helpers/postgres';
import { RecordRun, Sleep, runs } from './helpers/tasks';
import { wait } from './helpers/wait';

class Spawner extends AbstractTask<{ children: number }> {
  static override taskName = 'Spawner';
  async run(ctx: TaskContext) {
    for (let i = 0; i < this.getParameter('children'); i++) await ctx.enqueueChild(new RecordRun({ n: i }));
  }
}

describe.each(deliverySetups())('sweepLostTasks on %s', (_name, setup) => {
  let sut: BrokerSetup;
  let dispatcher: QueueDispatcher;

  beforeEach(async () => {
    sut = setup();
    dispatcher = new QueueDispatcher({ queues: [new Queue('q', sut.queueBroker)], taskLog: new TaskLog(sut.taskLogBroker), tasks: [RecordRun, Sleep, Spawner], logger: silentLogger });
    await dispatcher.initialize();
    runs.clear();
  });

  afterEach(async () => {
    await dispatcher.close();
    await sut.cleanup();
  });

  test('an entry whose message is gone fails; waiting, delayed and fresh ones are left alone', async () => {
    const [lost, waiting, delayed] = await dispatcher.enqueueMany([new RecordRun({ n: 1 }), new RecordRun({ n: 2 })]).then(async (two) => [...two, await dispatcher.enqueue(new RecordRun({ n: 3 }), { delay: 60_000 })]);
    // The lost one's message disappears (a purge, a broker that dropped it).
    const [mine] = await sut.queueBroker.receive('q', 1, 60_000);
    expect(mine.taskId).toBe(lost.id);
    await sut.queueBroker.acknowledge('q', mine);
    expect(await sweepLostTasks(dispatcher, { olderThanMs: 60_000 })).toEqual([]);
    await wait(30);
    expect(await sweepLostTasks(dispatcher, { olderThanMs: 10 })).toEqual([lost.id]);
    const entry = await dispatcher.taskLog.get(lost.id);
    expect(entry?.status).toBe(TaskStatus.Failed);
    expect(entry?.report?.message).toMatch(/^Lost: enqueued since .* but queue q holds no message for it/);
    expect(await dispatcher.taskLog.getStatus(waiting.id)).toBe(TaskStatus.Enqueued);
    expect(await dispatcher.taskLog.getStatus(delayed.id)).toBe(TaskStatus.Enqueued);
    // What stays runs as usual.
    await new Worker(dispatcher, { limit: 1, logger: silentLogger }).run();
    expect(await dispatcher.taskLog.getStatus(waiting.id)).toBe(TaskStatus.Completed);
  });

  test('a running task whose worker died is not swept while its message waits to run it again', async () => {
    const task = await dispatcher.enqueue(new RecordRun({ n: 1 }));
    await sut.queueBroker.receive('q', 1, 10);
    await dispatcher.taskLog.claim(task.id, 'dead', 10);
    await wait(50);
    expect(await sweepLostTasks(dispatcher, { olderThanMs: 0 })).toEqual([]);
    await new Worker(dispatcher, { limit: 1, logger: silentLogger }).run();
    expect(await dispatcher.taskLog.get(task.id)).toMatchObject({ status: TaskStatus.Completed, stalls: 1 });
  });

  test('a lost child ends its parent', async () => {
    const parent = await dispatcher.enqueue(new Spawner({ children: 1 }));
    await new Worker(dispatcher, { limit: 1, logger: silentLogger }).run();
    const [child] = await dispatcher.taskLog.search(new TaskLogFilter().eq('parentId', parent.id));
    expect(await sut.queueBroker.purge('q')).toBe(1);
    await wait(30);
    expect(await sweepLostTasks(dispatcher, { olderThanMs: 10 })).toEqual([child.id]);
    expect(await dispatcher.taskLog.getStatus(parent.id)).toBe(TaskStatus.Failed);
  });
});

class Flaky extends AbstractTask<Record<string, never>> {
  static override taskName = 'Flaky';
  run() {
    return 'ran';
  }
}

/** The sync queue with an SQL log that fails as the run ends. */
function syncWithSqlLog(): [string, () => { log: RdsTaskLogBroker; cleanup(): void }][] {
  const setups: [string, () => { log: RdsTaskLogBroker; cleanup(): void }][] = [
    [
      'sqlite',
      () => {
        const dir = mkdtempSync(join(tmpdir(), 'taskq-sync-'));
        return { log: new RdsTaskLogBroker({ connection: `sqlite:${join(dir, 'log.db')}` }), cleanup: () => rmSync(dir, { recursive: true, force: true }) };
      },
    ],
  ];
  const pg = usePostgresDatabase('sync-queue sweep');
  if (pg) setups.push(['postgres', () => ({ log: new RdsTaskLogBroker({ connection: pg, table: `sync_log_${process.pid}` }), cleanup: () => undefined })]);
  return setups;
}

describe.each(syncWithSqlLog())('the sync queue with a %s task log that fails mid-run', (_name, setup) => {
  let log: RdsTaskLogBroker;
  let cleanup: () => void;
  let dispatcher: QueueDispatcher;

  beforeEach(async () => {
    ({ log, cleanup } = setup());
    dispatcher = new QueueDispatcher({ queues: [new Queue('sync', new InMemoryQueueBroker())], taskLog: new TaskLog(log), tasks: [Flaky], logger: silentLogger });
    await dispatcher.initialize();
  });

  afterEach(async () => {
    jest.restoreAllMocks();
    await log.dropContainer();
    await dispatcher.close();
    cleanup();
  });

  test('a blip when the result is written is retried: the task completes once', async () => {
    const changeStatus = log.changeStatus.bind(log);
    jest.spyOn(log, 'changeStatus').mockRejectedValueOnce(new Error('connection reset')).mockImplementation(changeStatus);
    const task = await dispatcher.enqueue(new Flaky({}));
    expect(await dispatcher.taskLog.get(task.id)).toMatchObject({ status: TaskStatus.Completed, attempts: 1, report: { data: 'ran' } });
  });

  test('a log that stays down leaves the entry running; the sweep fails it once its lease is over', async () => {
    jest.spyOn(log, 'changeStatus').mockRejectedValue(new Error('database is down'));
    const task = new Flaky({});
    await expect(dispatcher.enqueue(task)).rejects.toThrow('database is down');
    jest.restoreAllMocks();
    expect(await dispatcher.taskLog.getStatus(task.id)).toBe(TaskStatus.Running);
    expect(await sweepLostTasks(dispatcher, { olderThanMs: 0 })).toEqual([]);
    await wait(5_500);
    expect(await sweepLostTasks(dispatcher, { olderThanMs: 0 })).toEqual([task.id]);
    const entry = await dispatcher.taskLog.get(task.id);
    expect(entry?.status).toBe(TaskStatus.Failed);
    expect(entry?.report?.message).toMatch(/^Lost: its run by sync:.* ended without its result being recorded/);
  }, 20_000);
});
