/**
 * What is particular to MySQL / MariaDB (TASKQ_TEST_MYSQL_URL): column types and collation, the
 * server version the claim needs, and a whole enqueue → worker → log round on it.
 */
import { AbstractTask, QueueDispatcher, Queue, RdsQueueBroker, RdsTaskLogBroker, TaskLog, TaskLogFilter, TaskStatus, Worker, silentLogger } from '../../src';
import { skipLockedVersionProblem } from '../../brokers/rds/sql/requireSkipLocked';
import { useMysqlDatabase } from '../helpers/mysql';
import { RecordRun, runs } from '../helpers/tasks';

class Echo extends AbstractTask<{ text: string }> {
  static override taskName = 'Echo';
  run() {
    return this.getParameter('text');
  }
}

test.each([
  ['5.7.44-log', 'MySQL 8.0.1 or later'],
  ['8.0.0-dmr', 'MySQL 8.0.1 or later'],
  ['8.0.1', undefined],
  ['8.4.3', undefined],
  ['10.5.22-MariaDB-1:10.5.22+maria~deb11', 'MariaDB 10.6.0 or later'],
  ['10.6.0-MariaDB', undefined],
  ['10.11.19-MariaDB-0+deb12u1', undefined],
  ['11.4.2-MariaDB', undefined],
  ['something else', undefined],
])('server version %s: %s', (version, needs) => {
  expect(skipLockedVersionProblem(version)).toBe(needs);
});

const connection = useMysqlDatabase('broker');

if (connection) {
  let n = 0;
  const setup = async () => {
    const suffix = ++n;
    const queueBroker = new RdsQueueBroker({ connection, table: `messages_${suffix}`, receive: 10 });
    const taskLog = new TaskLog(new RdsTaskLogBroker({ connection, table: `task_log_${suffix}` }));
    const dispatcher = new QueueDispatcher({ queues: [new Queue('q', queueBroker)], taskLog, tasks: [RecordRun, Echo], logger: silentLogger });
    await dispatcher.initialize();
    return { dispatcher, queueBroker, taskLog, close: () => dispatcher.close() };
  };

  test('a payload and a result far over TEXT’s 64 KiB go through whole (LONGTEXT)', async () => {
    const { dispatcher, taskLog, close } = await setup();
    try {
      const big = 'é'.repeat(200_000); // 400,000 bytes of UTF-8
      const task = await dispatcher.enqueue(new Echo({ text: big }));
      const stats = await new Worker(dispatcher, { limit: 1, logger: silentLogger }).run();
      expect(stats.completed).toBe(1);
      const entry = await taskLog.get(task.id);
      expect(entry?.status).toBe(TaskStatus.Completed);
      expect((entry?.parameters as { text: string }).text).toBe(big);
      expect(entry?.report?.data).toBe(big);
    } finally {
      await close();
    }
  });

  test('ids and names compare exactly and sort by code point (binary collation), as on SQLite and PostgreSQL', async () => {
    const { taskLog, close } = await setup();
    try {
      const at = new Date();
      const entry = (id: string, label: string) => ({ id, parentId: null, taskName: 'T', label, owner: null, queue: 'q', parameters: null, createdAt: at, status: TaskStatus.Enqueued });
      // Under the server's default collation these two ids would be one key.
      await taskLog.add([entry('task-a', 'e'), entry('TASK-A', 'é'), entry('task-à', 'E')]);
      expect((await taskLog.get('TASK-A'))?.label).toBe('é');
      expect((await taskLog.search(new TaskLogFilter().eq('label', 'e'))).map((e) => e.id)).toEqual(['task-a']);
      expect((await taskLog.search(new TaskLogFilter().sort('label'))).map((e) => e.label)).toEqual(['E', 'e', 'é']);
    } finally {
      await close();
    }
  });

  test('workers on one MySQL database run each of 200 tasks once', async () => {
    const { dispatcher, queueBroker, close } = await setup();
    try {
      runs.clear();
      const tasks = await dispatcher.enqueueMany(Array.from({ length: 200 }, (_, i) => new RecordRun({ n: i })));
      const workers = Array.from({ length: 3 }, () => new Worker(dispatcher, { concurrency: 5, idleMaxMs: 20, logger: silentLogger }));
      const running = workers.map((w) => w.run());
      for (let i = 0; i < 200 && (await queueBroker.count('q')) > 0; i++) await new Promise((r) => setTimeout(r, 50));
      await Promise.all(workers.map((w) => w.stop()));
      await Promise.all(running);
      expect(await queueBroker.count('q')).toBe(0);
      expect(tasks.every((t) => runs.get(t.id) === 1)).toBe(true);
      expect((await dispatcher.taskLog.getStats()).completed).toBe(200);
    } finally {
      await close();
    }
  });
}
