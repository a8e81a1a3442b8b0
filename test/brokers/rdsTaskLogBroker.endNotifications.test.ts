/**
 * PostgreSQL announces task ends (LISTEN/NOTIFY on the task-log table's channel), so a wait for a
 * task (dispatcher.run, TaskLog.waitForEnd) in one process wakes when another process ends it.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RdsTaskLogBroker, TaskLog, TaskStatus, type NewTaskLogEntry } from '../../src';
import { usePostgresDatabase } from '../helpers/postgres';
import { until, wait } from '../helpers/wait';

const pg = usePostgresDatabase('end notifications');
const HOUR = 3_600_000;
const entry = (id: string): NewTaskLogEntry => ({ id, parentId: null, taskName: 'T', label: '', owner: null, queue: 'q', parameters: null, createdAt: new Date(), status: TaskStatus.Enqueued });
const report = JSON.stringify({ type: 'success', message: 'done', children: [] });

if (pg) {
  describe('PostgreSQL task-log end notifications', () => {
    let n = 0;
    let table: string;
    let watcher: RdsTaskLogBroker;
    let ender: RdsTaskLogBroker;
    let heard: Array<readonly string[] | undefined>;
    let unsubscribe: (() => Promise<void>) | undefined;

    beforeEach(async () => {
      table = `ends_${++n}`;
      watcher = new RdsTaskLogBroker({ connection: pg, table });
      ender = new RdsTaskLogBroker({ connection: pg, table });
      await ender.createContainer();
      heard = [];
      unsubscribe = await watcher.watchEnds((ids) => heard.push(ids));
      expect(unsubscribe).toBeDefined();
    });

    afterEach(async () => {
      await unsubscribe?.();
      await watcher.close();
      await ender.close();
    });

    test('run ends written in one batched statement are announced with their ids; a retry is not an end', async () => {
      await ender.add(['a', 'b', 'c'].map(entry));
      for (const id of ['a', 'b', 'c']) expect(await ender.claim(id, 'w1', HOUR)).toMatchObject({ outcome: 'claimed' });
      const holder = { workerId: 'w1', attempt: 1 };
      // One turn: the two ends go out in one statement; the retry (back to enqueued) in another.
      await Promise.all([
        ender.changeStatus('a', { from: [TaskStatus.Running], to: TaskStatus.Completed, holder, report, finished: true }),
        ender.changeStatus('b', { from: [TaskStatus.Running], to: TaskStatus.Completed, holder, report, finished: true }),
        ender.changeStatus('c', { from: [TaskStatus.Running], to: TaskStatus.Enqueued, holder, report, releaseLease: true }),
      ]);
      await until(() => heard.length > 0, 5_000, 'a notification');
      expect(heard).toEqual([['a', 'b']]);
    });

    test('a run end refused by the fencing rule announces nothing', async () => {
      await ender.add([entry('a')]);
      await ender.claim('a', 'w1', HOUR);
      expect(await ender.changeStatus('a', { from: [TaskStatus.Running], to: TaskStatus.Completed, holder: { workerId: 'w2', attempt: 1 }, report, finished: true })).toBe(false);
      await ender.changeStatus('zzz', { from: [TaskStatus.Running], to: TaskStatus.Completed, holder: { workerId: 'w1', attempt: 1 }, report, finished: true });
      // A later end shows the notifications are flowing: only it was heard.
      await ender.add([entry('b')]);
      await new TaskLog(ender).cancel('b');
      await until(() => heard.length > 0, 5_000, 'a notification');
      expect(heard).toEqual([['b']]);
    });

    test('a cancel from another process is announced, and ends a wait there', async () => {
      await ender.add([entry('a')]);
      const log = new TaskLog(watcher);
      const waiting = log.waitForEnd(['a'], { timeoutMs: 10_000 });
      await wait(100); // the wait has looked once, and polls from now on
      await new TaskLog(ender).cancel('a');
      await until(() => heard.some((ids) => ids?.includes('a')), 5_000, 'the end announced');
      await expect(waiting).resolves.toMatchObject([{ id: 'a', status: TaskStatus.Cancelled }]);
      await log.close();
      watcher = new RdsTaskLogBroker({ connection: pg, table });
    });

    test('a batch whose ids would pass NOTIFY\'s payload limit is announced without ids: look at every one', async () => {
      const ids = Array.from({ length: 150 }, (_, i) => `${String(i).padStart(4, '0')}-${'x'.repeat(59)}`);
      await ender.add(ids.map(entry));
      for (const id of ids) await ender.claim(id, 'w1', HOUR);
      await Promise.all(ids.map((id) => ender.changeStatus(id, { from: [TaskStatus.Running], to: TaskStatus.Failed, holder: { workerId: 'w1', attempt: 1 }, report, finished: true })));
      await until(() => heard.length > 0, 5_000, 'a notification');
      expect(heard[0]).toBeUndefined();
    });

    test('notify: false, and SQLite, announce nothing: waits poll', async () => {
      const quiet = new RdsTaskLogBroker({ connection: pg, table, notify: false });
      expect(await quiet.watchEnds(() => undefined)).toBeUndefined();
      expect(quiet.describe()).toMatchObject({ notify: false });
      await quiet.close();
      const dir = mkdtempSync(join(tmpdir(), 'taskq-ends-'));
      const sqlite = new RdsTaskLogBroker({ connection: `sqlite:${join(dir, 'log.db')}` });
      expect(await sqlite.watchEnds(() => undefined)).toBeUndefined();
      await sqlite.close();
      rmSync(dir, { recursive: true, force: true });
    });
  });
}
