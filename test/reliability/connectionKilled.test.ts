/**
 * A `taskq run-worker` process whose PostgreSQL connections are all killed by the server
 * (pg_terminate_backend), several times while it runs tasks, keeps its process, logs each
 * failure once saying what happens next (when it tries again, or that the task returns after its
 * lease), and goes on without a restart: every task ends completed, and tasks enqueued after the
 * kills run in the same process. The server-down case (30 s) is test/reliability/databaseDown.
 *
 * Only the worker's connections are killed: it connects with an application_name of its own, in a
 * database of this test file's own (usePostgresDatabase); the test's dispatcher is left alone.
 */
import { readFileSync } from 'node:fs';
import { Client } from 'pg';
import { AbstractTask, Queue, QueueDispatcher, RdsQueueBroker, RdsTaskLogBroker, TaskLog, silentLogger } from '../../src';
import { CliProject, collect } from '../helpers/cliProject';
import { usePostgresDatabase } from '../helpers/postgres';
import { until, wait } from '../helpers/wait';

const url = usePostgresDatabase('connection-killed test');

/** The worker's connections are known by it: pool, LISTEN connection, all of them. */
const APPLICATION_NAME = 'taskq_connection_killed';
const KILLS = 8;
const KILL_EVERY_MS = 350;
const CONCURRENCY = 5;
const LEASE_MS = 3_000;
/** Failure lines one kill may bring at most: one per connection of the pool (10) and the LISTEN one, and a few over. */
const MAX_FAILURE_LINES_PER_KILL = 15;
/** What a failure line says happens next: when it is tried again, or that the work comes back by itself. */
const SAYS_WHAT_NEXT = /trying again in \d+ ms|reconnecting in \d+ ms|renewed again in \d+ ms|runs again once its lease ends|comes back when its lease ends/;

/** The CLI project's Slow task, enqueued from here (the worker runs it and records each run). */
class Slow extends AbstractTask<{ ms: number }> {
  static override taskName = 'Slow';
  run(): void {
    throw new Error('runs in the worker process only');
  }
}

interface LogLine {
  level: number;
  msg: string;
  pid?: number;
  /** The kill after which it came (-1: before the first). */
  kill: number;
}

interface Kill {
  /** Worker connections terminated, and how many of them were running a query. */
  killed: number;
  active: number;
  /** Where the worker's stderr stood when the kill was sent. */
  logOffset: number;
}

if (url) {
  test(`a worker whose PostgreSQL connections are all killed ${KILLS} times keeps its process, logs each failure once with what happens next, loses no task and runs new ones`, async () => {
    const workerUrl = new URL(url);
    workerUrl.searchParams.set('application_name', APPLICATION_NAME);
    const project = new CliProject({ queues: [{ name: 'standard', broker: { type: 'rds', connection: workerUrl.toString() } }], taskLog: { type: 'rds', connection: workerUrl.toString() }, tasks: ['./tasks.js'] });
    const dispatcher = new QueueDispatcher({
      queues: [new Queue('standard', new RdsQueueBroker({ connection: url }))],
      taskLog: new TaskLog(new RdsTaskLogBroker({ connection: url })),
      tasks: [Slow],
      logger: silentLogger,
    });
    const killer = new Client({ connectionString: url });
    const worker: { child?: ReturnType<CliProject['spawn']>; ended?: ReturnType<typeof collect> } = {};
    try {
      await dispatcher.initialize();
      await killer.connect();
      const child = project.spawn(['run-worker', `--concurrency=${CONCURRENCY}`, `--lease-ms=${LEASE_MS}`], { TASKQ_LOG_LEVEL: 'info', TASKQ_LOG_FORMAT: 'json' });
      worker.child = child;
      worker.ended = collect(child);
      let stderr = '';
      child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
      const alive = () => child.exitCode === null && child.signalCode === null;
      const runs = () => readFileOr(project.runsFile).split('\n').filter(Boolean);
      await until(() => stderr.includes('worker started') || !alive(), 20_000, 'the worker to start');
      expect(alive()).toBe(true);

      // Enough work to keep queries in flight through the kills (about 4 s of it at 5 at a time).
      const before = await dispatcher.enqueueMany(Array.from({ length: 300 }, () => new Slow({ ms: 60 })));
      await until(() => runs().length >= 10, 20_000, 'the first tasks to run');

      const kills: Kill[] = [];
      for (let i = 0; i < KILLS; i++) {
        const logOffset = stderr.length;
        const { rows } = await killer.query<{ state: string | null; killed: boolean }>(
          'SELECT state, pg_terminate_backend(pid) AS killed FROM pg_stat_activity WHERE datname = current_database() AND application_name = $1 AND pid <> pg_backend_pid()',
          [APPLICATION_NAME],
        );
        kills.push({ killed: rows.filter((r) => r.killed).length, active: rows.filter((r) => r.killed && r.state === 'active').length, logOffset });
        await wait(KILL_EVERY_MS);
        expect(alive()).toBe(true);
      }
      console.log(`worker connections killed per round (all / running a query): ${kills.map((k) => `${k.killed}/${k.active}`).join(', ')}; tasks run by the last kill: ${runs().length} of ${before.length}`);
      // Each round found the worker connected again (its LISTEN connection at least) and killed it.
      for (const kill of kills) expect(kill.killed).toBeGreaterThanOrEqual(1);

      // Resumed without a restart: new work runs in the same process.
      const after = await dispatcher.enqueueMany(Array.from({ length: 20 }, () => new Slow({ ms: 20 })));
      const all = [...before, ...after];
      await until(async () => (await dispatcher.taskLog.getStats()).completed === all.length || !alive(), 30_000, 'every task completed after the kills');
      expect(alive()).toBe(true);
      expect((await dispatcher.taskLog.getStats()).completed).toBe(all.length);
      // None lost: each ran (a run whose result the kill kept from being written ran again after its lease).
      const lines = runs();
      const runsOf = new Map<string, number>();
      for (const id of lines) runsOf.set(id, (runsOf.get(id) ?? 0) + 1);
      for (const task of all) expect(runsOf.get(task.id) ?? 0).toBeGreaterThanOrEqual(1);
      console.log(`runs: ${lines.length} for ${all.length} tasks (${[...runsOf.values()].filter((n) => n > 1).length} ran more than once)`);

      child.kill('SIGTERM');
      const { code } = await worker.ended;
      expect(code).toBe(0);

      // The log: one process from start to end, and each failure once, with what happens next.
      const log = parseLog(stderr, kills);
      expect(log.filter((l) => l.msg === 'worker started')).toHaveLength(1);
      expect(new Set(log.flatMap((l) => (l.pid === undefined ? [] : [l.pid])))).toEqual(new Set([child.pid]));
      const failures = log.filter((l) => l.level >= 40);
      const byKill = new Map<number, LogLine[]>();
      for (const f of failures) byKill.set(f.kill, [...(byKill.get(f.kill) ?? []), f]);
      console.log(
        `failure lines of the worker: ${failures.length}\n` +
          [...byKill].map(([kill, fs]) => `after kill ${kill + 1}:\n${fs.map((f) => `  ${f.level === 40 ? 'warn ' : 'error'} ${f.msg}`).join('\n')}`).join('\n'),
      );
      expect(failures.filter((f) => f.kill < 0)).toEqual([]); // nothing failed before the first kill
      expect(failures.filter((f) => /uncaught|unhandled/i.test(f.msg))).toEqual([]);
      // Every failure line says what happens next.
      expect(failures.filter((f) => !SAYS_WHAT_NEXT.test(f.msg)).map((f) => f.msg)).toEqual([]);
      // A bounded number of lines per kill, and no failure said twice after one kill.
      for (const fs of byKill.values()) {
        expect(fs.length).toBeLessThanOrEqual(MAX_FAILURE_LINES_PER_KILL);
        const texts = fs.map((f) => f.msg);
        expect(texts.filter((t, i) => texts.indexOf(t) !== i && !/trying again in|reconnecting in|renewed again in/.test(t))).toEqual([]);
      }
      // Failed receives: doubling waits from 100 ms, counted in a row, and a line once receiving works again.
      const receives = log.filter((l) => /^receive from queue \S+ failed: /.test(l.msg));
      for (const line of receives) {
        const [, nth, ms] = /failure (\d+) in a row, trying again in (\d+) ms$/.exec(line.msg) ?? [];
        expect(nth).toBeDefined();
        expect(Number(ms)).toBe(Math.min(5_000, 100 * 2 ** (Number(nth) - 1)));
      }
      if (receives.length > 0) {
        const lastFailure = log.lastIndexOf(receives[receives.length - 1]);
        expect(log.slice(lastFailure).some((l) => /receiving works again after \d+ failures/.test(l.msg))).toBe(true);
      }
    } finally {
      worker.child?.kill('SIGKILL');
      await worker.ended;
      await killer.end().catch(() => undefined);
      await dispatcher.close();
      project.remove();
    }
  }, 60_000);
}

/** The worker's stderr: pino's JSON lines (anything else counts as an error line), each with the kill it came after. */
function parseLog(stderr: string, kills: readonly Kill[]): LogLine[] {
  const lines: LogLine[] = [];
  let offset = 0;
  for (const text of stderr.split('\n')) {
    const at = offset;
    offset += text.length + 1;
    if (text.trim() === '') continue;
    const kill = kills.filter((k) => k.logOffset <= at).length - 1;
    try {
      const parsed = JSON.parse(text) as { level?: number; msg?: unknown; pid?: number };
      lines.push({ level: Number(parsed.level ?? 50), msg: String(parsed.msg ?? text), pid: parsed.pid, kill });
    } catch {
      lines.push({ level: 50, msg: text, kill });
    }
  }
  return lines;
}

function readFileOr(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}
