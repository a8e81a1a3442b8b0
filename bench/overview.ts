/**
 * The dashboard's overview over a task log of 1,000,000 tasks, on SQLite and PostgreSQL: how long
 * the page takes to load in a real browser (Debian's chromium through playwright-core) until its
 * counts, its last-hour charts, its queues and its workers are drawn, and how long each of the
 * four API requests it makes takes on its own. Two layouts of the same million: finished over
 * the last week (a log pruned after 7 days: the last hour holds 1/168 of it), and every one
 * finished within the last hour (the worst case for the throughput chart, which reads the
 * window's rows). The server runs in this process (buildServer, as `taskq serve`); nothing else
 * runs meanwhile.
 */
import { existsSync } from 'node:fs';
import Database from 'better-sqlite3';
import type { Browser, Page } from 'playwright-core';
import { Queue, QueueDispatcher, RdsQueueBroker, RdsTaskLogBroker, TaskLog, silentLogger } from '../src';
import { buildServer, serverUrl } from '../server';
import { BenchNoop, type BenchResult, type ScenarioOptions, now, percentiles, scaled } from './common';
import { tempDatabase } from './sqliteSetup';
import { PgTarget } from './peers/pgTarget';

const CHROMIUM = process.env.TASKQ_TEST_CHROMIUM ?? '/usr/bin/chromium';
const LOADS = 10;
const REQUESTS = ['/api/stats', '/api/stats/throughput', '/api/queues', '/api/workers'];
const HOUR = 3_600_000;
const WEEK = 7 * 24 * HOUR;

interface Layout {
  name: string;
  /** Over how long before now the tasks finished. */
  spanMs: number;
}
const LAYOUTS: Layout[] = [
  { name: 'finished over the last week', spanMs: WEEK },
  { name: 'all finished in the last hour', spanMs: HOUR },
];

/**
 * The SELECT that makes `rows` finished tasks, n = 1…rows, in SQL the dialect runs as is: 2 % failed,
 * ~1 % cancelled, ~1 % archived, the rest completed; 20 task names, 3 queues, 100 owners;
 * finished one after the other over the span up to now.
 */
function historySelect(n: string, end: number, spanMs: number, rows: number): string {
  const finished = `${end - spanMs} + (${n} * ${spanMs}) / ${rows}`;
  return `SELECT 'old-' || ${n}, 'Task' || (${n} % 20), '', CASE WHEN ${n} % 50 = 0 THEN 'failed' WHEN ${n} % 97 = 0 THEN 'cancelled' WHEN ${n} % 89 = 0 THEN 'archived' ELSE 'completed' END,
    'user' || (${n} % 100), CASE ${n} % 3 WHEN 0 THEN 'standard' WHEN 1 THEN 'priority' ELSE 'bulk' END, '{"n":1}', '{"type":"success","message":"done","children":[]}', 1,
    ${finished} - 50, ${finished}, ${finished} - 20, ${finished}`;
}
const COLUMNS = 'id, task_name, label, status, owner, queue, parameters, report, attempts, created_at, updated_at, started_at, finished_at';

function dispatcherOn(connection: string, suffix: string): QueueDispatcher {
  const messages = `overview_messages_${suffix}`;
  return new QueueDispatcher({
    queues: ['standard', 'priority', 'bulk'].map((name) => new Queue(name, new RdsQueueBroker({ connection, table: messages }))),
    taskLog: new TaskLog(new RdsTaskLogBroker({ connection, table: `overview_log_${suffix}` })),
    tasks: [BenchNoop],
    logger: silentLogger,
  });
}

/** 1,000 tasks waiting a day, spread over the queues: the queue table has something to count. */
async function addWaiting(dispatcher: QueueDispatcher): Promise<void> {
  for (const queue of ['standard', 'priority', 'bulk']) {
    await dispatcher.enqueueMany(
      Array.from({ length: 333 }, () => new BenchNoop({ t: now(), w: 1 })),
      { queue, delay: 86_400_000 },
    );
  }
}

async function timeRequests(url: string): Promise<Record<string, string | number>> {
  const details: Record<string, string | number> = {};
  for (const path of REQUESTS) {
    const times: number[] = [];
    for (let i = 0; i < LOADS; i++) {
      const start = now();
      const res = await fetch(`${url}${path}`);
      await res.arrayBuffer();
      if (res.status !== 200) throw new Error(`GET ${path}: ${res.status}`);
      times.push(now() - start);
    }
    const p = percentiles(Float64Array.from(times));
    details[`${path} p50/max ms`] = `${p?.p50.toFixed(1)} / ${p?.max.toFixed(1)}`;
  }
  return details;
}

/**
 * Loads the overview `LOADS` times in a new browser context each (no cache, a new page process):
 * the ms from the navigation's start to the overview's first full drawing (its
 * `taskq:overview-ready` mark, on the page's own clock), and the wall time until the bench saw it
 * drawn (which adds the browser's start of the navigation and the bench's polling); then
 * `LOADS` reloads of one tab (warm).
 */
async function timeLoads(browser: Browser, url: string, total: number): Promise<{ ready: number[]; wall: number[]; warm: number[] }> {
  const ready: number[] = [];
  const wall: number[] = [];
  const warm: number[] = [];
  const load = async (page: Page, go: () => Promise<unknown>): Promise<number> => {
    const start = now();
    await go();
    await page.locator('[data-status="total"] .count', { hasText: new RegExp(`^${total}$`) }).waitFor({ timeout: 30_000 });
    await page.locator('svg.throughput-chart').waitFor({ timeout: 30_000 });
    await page.locator('tr.queue-row').first().waitFor({ timeout: 30_000 });
    return now() - start;
  };
  const readyMark = async (page: Page) => Number(await page.evaluate("performance.getEntriesByName('taskq:overview-ready')[0]?.startTime ?? NaN"));
  const watch = (page: Page, problems: string[]) => {
    page.on('console', (entry) => entry.type() === 'error' && problems.push(entry.text()));
    page.on('pageerror', (error) => problems.push(error.message));
  };
  const problems: string[] = [];
  for (let i = 0; i < LOADS; i++) {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const page = await context.newPage();
    watch(page, problems);
    wall.push(await load(page, () => page.goto(`${url}/`)));
    ready.push(await readyMark(page));
    await context.close();
  }
  // The same tab reloaded: what a reader who keeps the dashboard open sees, the browser warm.
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  watch(page, problems);
  await load(page, () => page.goto(`${url}/`));
  for (let i = 0; i < LOADS; i++) {
    await load(page, () => page.reload());
    warm.push(await readyMark(page));
  }
  await context.close();
  if (problems.length > 0) throw new Error(`The overview logged errors: ${problems.join('; ')}`);
  return { ready, wall, warm };
}

async function measure(db: string, connection: string, fill: (layout: Layout, suffix: string) => Promise<void>, options: ScenarioOptions, browser: Browser | null, rows: number): Promise<BenchResult[]> {
  const results: BenchResult[] = [];
  for (const [i, layout] of LAYOUTS.entries()) {
    const suffix = `${process.pid}_${i}`;
    const dispatcher = dispatcherOn(connection, suffix);
    try {
      await dispatcher.initialize();
      options.progress(`overview: ${db}, ${rows} tasks ${layout.name}…`);
      const fillStart = now();
      await fill(layout, suffix);
      await addWaiting(dispatcher);
      options.progress(`overview: ${db}: filled in ${((now() - fillStart) / 1000).toFixed(1)} s`);
      const total = (await dispatcher.taskLog.getStats()).total;
      const app = await buildServer(dispatcher, { logger: silentLogger });
      await app.listen({ host: '127.0.0.1', port: 0 });
      try {
        const url = serverUrl(app);
        const details = await timeRequests(url);
        const loads = browser ? await timeLoads(browser, url, total) : { ready: [], wall: [], warm: [] };
        const warm = loads.warm.length ? percentiles(Float64Array.from(loads.warm)) : null;
        const p = loads.ready.length ? percentiles(Float64Array.from(loads.ready)) : null;
        const wall = loads.wall.length ? percentiles(Float64Array.from(loads.wall)) : null;
        results.push({
          scenario: 'overview',
          case: `${db}, ${rows.toLocaleString('en-US')} tasks ${layout.name}`,
          tasks: total,
          tasksPerSec: 0,
          latency: p,
          details: {
            ...details,
            loads: loads.ready.length,
            'wall p50/max ms': wall ? `${wall.p50.toFixed(0)} / ${wall.max.toFixed(0)}` : '—',
            'reloaded tab p50/max ms': warm ? `${warm.p50.toFixed(0)} / ${warm.max.toFixed(0)}` : '—',
            'under 1 s (every load)': p ? (p.max < 1000 ? 'met' : 'MISSED') : 'not measured',
            browser: browser ? CHROMIUM : 'none (chromium missing: API times only)',
          },
        });
      } finally {
        await app.close();
      }
    } finally {
      await dispatcher.close();
    }
  }
  return results;
}

export async function overviewScenario(options: ScenarioOptions): Promise<BenchResult[]> {
  const rows = scaled(1_000_000, options, 1_000);
  let browser: Browser | null = null;
  if (existsSync(CHROMIUM)) {
    const { chromium } = await import('playwright-core');
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-gpu'] });
  } else {
    options.progress(`overview: no browser at ${CHROMIUM} (TASKQ_TEST_CHROMIUM): timing the API requests only`);
  }
  const results: BenchResult[] = [];
  try {
    const file = tempDatabase();
    try {
      const connection = `sqlite:${file.file}`;
      results.push(
        ...(await measure(
          'SQLite',
          connection,
          async (layout, suffix) => {
            const sqlite = new Database(file.file);
            try {
              sqlite.exec(`WITH RECURSIVE seq(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM seq WHERE n < ${rows})
                INSERT INTO overview_log_${suffix} (${COLUMNS}) ${historySelect('n', Date.now(), layout.spanMs, rows)} FROM seq`);
              sqlite.exec(`ANALYZE overview_log_${suffix}`);
            } finally {
              sqlite.close();
            }
          },
          options,
          browser,
          rows,
        )),
      );
    } finally {
      file.dispose();
    }

    const target = await PgTarget.open(options.progress);
    try {
      results.push(
        ...(await measure(
          'PostgreSQL',
          target.db.url,
          async (layout, suffix) => {
            await target.db.query(`INSERT INTO overview_log_${suffix} (${COLUMNS}) ${historySelect('n::bigint', Date.now(), layout.spanMs, rows)} FROM generate_series(1, ${rows}) AS n`);
            await target.db.query(`VACUUM ANALYZE overview_log_${suffix}`);
          },
          options,
          browser,
          rows,
        )),
      );
    } finally {
      await target.close();
    }
  } finally {
    await browser?.close();
  }
  return results;
}
