/** A SQLite file deleted or replaced under a running process is noticed and said loudly (issue 6, point 4). */
import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InMemoryTaskLogBroker, Queue, QueueDispatcher, RdsQueueBroker, TaskLog, Worker, type Logger } from '../../src';
import { until, wait } from '../helpers/wait';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'taskq-gone-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

test.each([
  ['deleted', (file: string) => rmSync(file)],
  ['replaced', (file: string) => {
    writeFileSync(`${file}.new`, '');
    renameSync(`${file}.new`, file);
  }],
])('a worker whose database file was %s logs it as an error at every poll instead of polling it in silence', async (what, change) => {
  const file = join(dir, 'q.db');
  const broker = new RdsQueueBroker({ connection: `sqlite:${file}` });
  const errors: string[] = [];
  const logger: Logger = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: (message: string) => void errors.push(message) };
  const dispatcher = new QueueDispatcher({ queues: [new Queue('q', broker)], taskLog: new TaskLog(new InMemoryTaskLogBroker()), logger });
  await dispatcher.initialize();
  const worker = new Worker(dispatcher, { idleMaxMs: 50, logger });
  const running = worker.run();
  try {
    await wait(100);
    change(file);
    await until(() => errors.some((e) => e.includes(`The SQLite database file ${file} was ${what} while this process had it open`)), 5_000, 'the error');
  } finally {
    await worker.stop();
    await running;
    await dispatcher.close();
  }
});
