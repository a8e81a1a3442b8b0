import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_HEARTBEAT_MS, InMemoryTaskLogBroker, RdsTaskLogBroker, TaskLog, type WorkerHeartbeat } from '../../src';
import { useMysqlDatabase } from '../helpers/mysql';
import { usePostgresDatabase } from '../helpers/postgres';
import { until } from '../helpers/wait';

const heartbeat = (overrides: Partial<WorkerHeartbeat> = {}): WorkerHeartbeat => ({
  id: 'host-a:101:abcd',
  host: 'host-a',
  pid: 101,
  queues: ['standard', 'priority'],
  startedAt: new Date('2026-01-02T03:04:05.678Z'),
  tasksRun: 0,
  status: 'running',
  heartbeatMs: DEFAULT_HEARTBEAT_MS,
  ...overrides,
});

/** The recordWorker / listWorkers / removeWorkers contract, the same on every task-log broker. */
function workersContract(name: string, makeLog: () => Promise<TaskLog>): void {
  describe(`TaskLog.recordWorker / listWorkers / removeWorkers (${name})`, () => {
    let log: TaskLog;

    beforeEach(async () => {
      log = await makeLog();
    });

    afterEach(async () => {
      await log.broker.dropContainer();
      await log.close();
    });

    test('listWorkers returns what recordWorker stored, alive, with lastSeenAt and sinceSeenMs', async () => {
      await log.recordWorker(heartbeat());
      const [worker, ...others] = await log.listWorkers();
      expect(others).toEqual([]);
      expect(worker).toMatchObject({ ...heartbeat(), alive: true });
      expect(worker.lastSeenAt).toBeInstanceOf(Date);
      expect(worker.sinceSeenMs).toBeGreaterThanOrEqual(0);
      expect(worker.sinceSeenMs).toBeLessThanOrEqual(3 * DEFAULT_HEARTBEAT_MS);
    });

    test('recordWorker upserts: one row per worker id, updated, its first startedAt kept', async () => {
      await log.recordWorker(heartbeat());
      await log.recordWorker(heartbeat({ id: 'host-b:202:ef01', host: 'host-b', pid: 202, queues: ['standard'], startedAt: new Date('2026-01-02T03:05:00.000Z') }));
      await log.recordWorker(heartbeat({ tasksRun: 7, status: 'paused', startedAt: new Date('2030-01-01T00:00:00.000Z') }));
      const workers = await log.listWorkers();
      expect(workers.map((w) => [w.id, w.host, w.pid, w.queues, w.tasksRun, w.status, w.startedAt.toISOString()])).toEqual([
        ['host-a:101:abcd', 'host-a', 101, ['standard', 'priority'], 7, 'paused', '2026-01-02T03:04:05.678Z'],
        ['host-b:202:ef01', 'host-b', 202, ['standard'], 0, 'running', '2026-01-02T03:05:00.000Z'],
      ]);
    });

    test('a stopped worker is not alive; nor one not seen for three of its heartbeats', async () => {
      await log.recordWorker(heartbeat({ id: 'stopped', status: 'stopped', tasksRun: 3 }));
      await log.recordWorker(heartbeat({ id: 'silent', heartbeatMs: 1 }));
      await log.recordWorker(heartbeat({ id: 'beating' }));
      // The silent one's three 1 ms heartbeats are over once its row is a few ms old.
      await until(async () => (await log.listWorkers()).find((w) => w.id === 'silent')!.sinceSeenMs > 3, 5_000, 'time to pass');
      const alive = Object.fromEntries((await log.listWorkers()).map((w) => [w.id, w.alive]));
      expect(alive).toEqual({ stopped: false, silent: false, beating: true });
    });

    test('removeWorkers drops only the rows not seen for that long, and says how many', async () => {
      await log.recordWorker(heartbeat({ id: 'old' }));
      await until(async () => (await log.listWorkers())[0].sinceSeenMs > 1_500, 10_000, 'the row to age');
      await log.recordWorker(heartbeat({ id: 'new' }));
      expect(await log.removeWorkers(3_600_000)).toBe(0);
      expect(await log.removeWorkers(1_000)).toBe(1);
      expect((await log.listWorkers()).map((w) => w.id)).toEqual(['new']);
    });
  });
}

workersContract('memory', async () => new TaskLog(new InMemoryTaskLogBroker()));

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'taskq-workers-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let files = 0;
workersContract('SQLite', async () => {
  const log = new TaskLog(new RdsTaskLogBroker({ connection: `sqlite:${join(dir, `log${files++}.db`)}` }));
  await log.createContainer();
  return log;
});

const pgUrl = usePostgresDatabase('task log workers');
if (pgUrl) {
  workersContract('PostgreSQL', async () => {
    const log = new TaskLog(new RdsTaskLogBroker({ connection: pgUrl }));
    await log.createContainer();
    return log;
  });
}

const mysqlUrl = useMysqlDatabase('task log workers');
if (mysqlUrl) {
  workersContract('MariaDB', async () => {
    const log = new TaskLog(new RdsTaskLogBroker({ connection: mysqlUrl }));
    await log.createContainer();
    return log;
  });
}

test('the workers table of a long task log table name is shortened to 63 characters', async () => {
  const table = `t${'x'.repeat(59)}`;
  const log = new TaskLog(new RdsTaskLogBroker({ connection: `sqlite:${join(dir, 'long.db')}`, table }));
  await log.createContainer();
  await log.recordWorker(heartbeat());
  expect((await log.listWorkers()).map((w) => w.id)).toEqual([heartbeat().id]);
  await log.close();
});
