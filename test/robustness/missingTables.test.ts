/** Using the RDS brokers before their tables exist says what to run (issue 6, point 5). */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AbstractTask, Queue, QueueDispatcher, RdsQueueBroker, RdsTaskLogBroker, TaskLog, silentLogger } from '../../src';
import { usePostgresDatabase } from '../helpers/postgres';

class Hello extends AbstractTask<Record<string, never>> {
  static override taskName = 'Hello';
  run() {
    return 'hi';
  }
}

const connections: [string, () => string][] = [['sqlite', () => `sqlite:${join(mkdtempSync(join(tmpdir(), 'taskq-missing-')), 'q.db')}`]];
const pg = usePostgresDatabase('missing tables');
if (pg) connections.push(['postgres', () => pg]);

test.each(connections)('on %s, enqueue before initialize() names the table and what to run', async (_name, connection) => {
  const url = connection();
  const dispatcher = new QueueDispatcher({
    queues: [new Queue('q', new RdsQueueBroker({ connection: url, table: `never_made_${process.pid}` }))],
    taskLog: new TaskLog(new RdsTaskLogBroker({ connection: url, table: `never_made_log_${process.pid}` })),
    tasks: [Hello],
    logger: silentLogger,
  });
  try {
    // Matched by message: better-sqlite3's errors may come from another jest realm.
    await expect(dispatcher.enqueue(new Hello({}))).rejects.toMatchObject({
      message: expect.stringMatching(/^taskq's table "?never_made_(log_)?\d+"? does not exist in this database: run `taskq initialize-queue` \(or await dispatcher\.initialize\(\)\) first/),
    });
    await expect(dispatcher.taskLog.get('x')).rejects.toMatchObject({ message: expect.stringContaining('run `taskq initialize-queue`') });
  } finally {
    await dispatcher.close();
    if (url.startsWith('sqlite:')) rmSync(join(url.slice('sqlite:'.length), '..'), { recursive: true, force: true });
  }
});
