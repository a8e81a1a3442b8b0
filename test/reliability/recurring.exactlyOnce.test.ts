/**
 * Issue 9's test of recurring tasks: 3 worker processes (`taskq run-worker`), each running the
 * config's every-second schedule, for 2 minutes. Every tick's task records its id (its tick) in a
 * file as it runs; every second of the window must have run exactly once: none missed while the
 * workers were up, none twice. On SQLite, and on PostgreSQL when TASKQ_TEST_PG_URL is set.
 */
import { type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { CliProject, collect } from '../helpers/cliProject';
import { usePostgresDatabase } from '../helpers/postgres';
import { wait } from '../helpers/wait';

const WORKERS = 3;
const DURATION_MS = 120_000;
/** The window: from a second after the first scheduler started, to this long before the stop signal. */
const STOP_MS = 2_000;

jest.setTimeout(2 * DURATION_MS + 120_000);

const pgUrl = usePostgresDatabase('recurring exactly-once');

interface Figures {
  runs: number;
  ticks: number;
  windowTicks: number;
  missed: string[];
  twice: string[];
}

async function runScenario(connection: string): Promise<Figures> {
  const project = await CliProject.initialized({
    queues: [{ name: 'standard', broker: { type: 'rds', connection } }],
    taskLog: { type: 'rds', connection },
    tasks: ['./tasks.js'],
    schedules: [{ name: 'every-second', cron: '* * * * * *', task: 'Hello', params: { name: 'tick' } }],
  });
  try {
    const workers: ChildProcess[] = [];
    for (let i = 0; i < WORKERS; i++) workers.push(project.spawn(['run-worker', '--concurrency=2']));
    const results = workers.map((worker) => collect(worker));
    await wait(DURATION_MS);
    const stoppedAt = Date.now();
    for (const worker of workers) worker.kill('SIGTERM');
    const ended = await Promise.all(results);
    const lines = ended.flatMap((result) => result.stderr.split('\n').filter(Boolean).map((line) => JSON.parse(line) as { level: number; time: number; msg: string }));
    expect(ended.map((result) => result.code)).toEqual(workers.map(() => 0));
    // Not one warning or error: no tick was late, no enqueue failed, no run failed.
    expect(lines.filter((line) => line.level >= 40).map((line) => line.msg)).toEqual([]);
    const startedAt = Math.min(...lines.filter((line) => line.msg === 'scheduler started').map((line) => line.time));
    expect(Number.isFinite(startedAt)).toBe(true);

    const ids = existsSync(project.runsFile) ? readFileSync(project.runsFile, 'utf8').split('\n').filter(Boolean) : [];
    const counts = new Map<string, number>();
    for (const id of ids) counts.set(id, (counts.get(id) ?? 0) + 1);
    const prefix = 'cron:every-second@';
    const missed: string[] = [];
    let windowTicks = 0;
    for (let s = Math.ceil((startedAt + 1_000) / 1000); s * 1000 <= stoppedAt - STOP_MS; s++) {
      windowTicks++;
      const id = `${prefix}${new Date(s * 1000).toISOString().replace(/\.000Z$/, 'Z')}`;
      if (!counts.has(id)) missed.push(id);
    }
    return {
      runs: ids.length,
      ticks: counts.size,
      windowTicks,
      missed,
      twice: [...counts].filter(([, n]) => n > 1).map(([id, n]) => `${id} x${n}`),
    };
  } finally {
    project.remove();
  }
}

function check(name: string, figures: Figures): void {
  console.log(`recurring exactly-once on ${name}: ${JSON.stringify({ ...figures, missed: figures.missed.length, twice: figures.twice.length })}`);
  expect(figures.twice).toEqual([]);
  expect(figures.missed).toEqual([]);
  expect(figures.windowTicks).toBeGreaterThanOrEqual(DURATION_MS / 1000 - 10);
  expect(figures.runs).toBe(figures.ticks);
}

test(`sqlite: ${WORKERS} worker processes, an every-second schedule for ${DURATION_MS / 1000} s: every tick runs exactly once`, async () => {
  check('sqlite', await runScenario('sqlite:./taskq.db'));
});

if (pgUrl) {
  test(`postgres: ${WORKERS} worker processes, an every-second schedule for ${DURATION_MS / 1000} s: every tick runs exactly once`, async () => {
    check('postgres', await runScenario(pgUrl));
  });
}
