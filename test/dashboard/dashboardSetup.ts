import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { type Browser, type BrowserContext, type Page, chromium } from 'playwright-core';
import { z } from 'zod';
import { AbstractTask, Queue, QueueDispatcher, RdsQueueBroker, RdsTaskLogBroker, Report, TaskLog, Worker, silentLogger, type TaskContext } from '../../src';
import { type ServerOptions, buildServer, serverUrl } from '../../server';
import { usePostgresDatabase } from '../helpers/postgres';

/** Where the tests leave their screenshots (git-ignored); docs/images has copies of some. */
export const OUTPUT_DIR = resolve(__dirname, '../../test-output/dashboard');

export class Greet extends AbstractTask<{ name: string }> {
  static override taskName = 'Greet';
  run() {
    return Report.success(`hello ${this.getParameter('name')}`);
  }
}

/** A task whose params have a schema: the Add a task form builds its fields from it. */
export class SendMail extends AbstractTask<{ to: string; subject: string; urgent?: boolean }> {
  static override taskName = 'SendMail';
  static override params = z.object({
    to: z.email().describe('Who gets the mail'),
    subject: z.string().min(1).max(40),
    urgent: z.boolean().optional(),
  });
  run() {
    return Report.success(`mail to ${this.getParameter('to')}`);
  }
}

const failedBefore = new Set<string>();

/** Fails its first run and completes the next (a rerun keeps the id): the failed task to rerun. */
export class FailsOnce extends AbstractTask<Record<string, never>> {
  static override taskName = 'FailsOnce';
  run(ctx: TaskContext) {
    if (failedBefore.has(ctx.taskId)) return Report.success('worked the second time');
    failedBefore.add(ctx.taskId);
    throw new Error('failing once on purpose');
  }
}

export const SCRIPT_PARAM = '<script>alert(1)</script>';
export const HTML_MESSAGE = '<img src=x onerror=alert(2)><b>not bold</b>';

/** User data that is markup: params, a report message, nested report data and a label. */
export class Markup extends AbstractTask<{ note: string }> {
  static override taskName = 'Markup';
  run() {
    const report = Report.warning(HTML_MESSAGE, { html: '<iframe src="javascript:alert(3)"></iframe>' });
    report.add(Report.info('<svg onload=alert(4)>nested</svg>'));
    return report;
  }
}

/** A parent with two children, for the detail page's links. */
export class Family extends AbstractTask<Record<string, never>> {
  static override taskName = 'Family';
  async run(ctx: TaskContext) {
    await ctx.enqueueChild(new Greet({ name: 'kid 1' }), 'kid 1');
    await ctx.enqueueChild(new Greet({ name: 'kid 2' }), 'kid 2');
    return 'spawned';
  }
}

export interface DashboardFixture {
  dispatcher: QueueDispatcher;
  ids: { greetAnn: string; failsOnce: string; markup: string; family: string };
  /** A listening server of the dispatcher on 127.0.0.1 (closed with the fixture). */
  server(options?: ServerOptions): Promise<string>;
  /** Resolves when no task is enqueued, dequeued, running or child_running but the delayed ones. */
  settled(waiting?: number): Promise<void>;
  close(): Promise<void>;
}

let tables = 0;

/**
 * A dispatcher on a real database with a Worker running in the background for the whole file:
 * completed tasks, a failed one, a family, a markup one, and two delayed (still enqueued) ones.
 */
async function fixture(connection: string, cleanup: () => void): Promise<DashboardFixture> {
  const suffix = `${process.pid}_${++tables}`;
  const dispatcher = new QueueDispatcher({
    queues: [new Queue('standard', new RdsQueueBroker({ connection, table: `dash_messages_${suffix}`, receive: 5 }), 30), new Queue('priority', new RdsQueueBroker({ connection, table: `dash_messages_${suffix}`, receive: 5 }), 90)],
    defaultQueue: 'standard',
    associations: { FailsOnce: 'priority' },
    taskLog: new TaskLog(new RdsTaskLogBroker({ connection, table: `dash_task_log_${suffix}` })),
    tasks: [Greet, FailsOnce, Markup, Family, SendMail],
    logger: silentLogger,
  });
  await dispatcher.initialize();
  const worker = new Worker(dispatcher, { logger: silentLogger, idleMinMs: 20, idleMaxMs: 100, heartbeatMs: 200, workerId: `dashboard-test-worker-${suffix}` });
  const running = worker.run();
  const greetAnn = await dispatcher.enqueue(new Greet({ name: 'ann' }), 'greet ann');
  await dispatcher.enqueue(new Greet({ name: 'bob' }), { label: 'greet bob', owner: 'alice' });
  const failsOnce = await dispatcher.enqueue(new FailsOnce({}), 'flaky');
  const markup = await dispatcher.enqueue(new Markup({ note: SCRIPT_PARAM }), '<b>label markup</b>');
  const family = await dispatcher.enqueue(new Family({}), 'family');
  await dispatcher.enqueue(new Greet({ name: 'later 1' }), { label: 'later 1', delay: 3_600_000 });
  await dispatcher.enqueue(new Greet({ name: 'later 2' }), { label: 'later 2', delay: 3_600_000 });
  const servers: FastifyInstance[] = [];

  const settled = async (waiting = 2): Promise<void> => {
    const deadline = Date.now() + 20_000;
    for (;;) {
      const stats = await dispatcher.taskLog.getStats();
      if (stats.enqueued + stats.dequeued === waiting && stats.running + stats.child_running === 0) return;
      if (Date.now() > deadline) throw new Error(`The worker did not settle: ${JSON.stringify(stats)}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  await settled();

  return {
    dispatcher,
    ids: { greetAnn: greetAnn.id, failsOnce: failsOnce.id, markup: markup.id, family: family.id },
    settled,
    async server(options) {
      const app = await buildServer(dispatcher, options);
      servers.push(app);
      await app.listen({ host: '127.0.0.1', port: 0 });
      return serverUrl(app);
    },
    async close() {
      await worker.stop();
      await running;
      for (const app of servers) await app.close();
      await dispatcher.close();
      cleanup();
    },
  };
}

/** SQLite, and PostgreSQL when TASKQ_TEST_PG_URL is set; call at the top level of a test file. */
export function dashboardSetups(suite: string): [string, () => Promise<DashboardFixture>][] {
  const setups: [string, () => Promise<DashboardFixture>][] = [
    [
      'sqlite',
      () => {
        const dir = mkdtempSync(join(tmpdir(), 'taskq-dashboard-'));
        return fixture(`sqlite:${join(dir, 'q.db')}`, () => rmSync(dir, { recursive: true, force: true }));
      },
    ],
  ];
  const pg = usePostgresDatabase(suite);
  if (pg) setups.push(['postgres', () => fixture(pg, () => undefined)]);
  return setups;
}

/** Debian's chromium, headless (the machines have no display and run as root). */
export function launchBrowser(): Promise<Browser> {
  return chromium.launch({ executablePath: process.env.TASKQ_TEST_CHROMIUM ?? '/usr/bin/chromium', args: ['--headless', '--no-sandbox', '--disable-gpu'] });
}

/** One browser for the whole test file, launched before its tests and closed after them; call at the top level. */
export function useBrowser(): () => Browser {
  let browser: Browser | undefined;
  beforeAll(async () => {
    browser = await launchBrowser();
  });
  afterAll(async () => {
    await browser?.close();
  });
  return () => {
    if (!browser) throw new Error('The browser is not launched yet: call useBrowser() at the top level of the test file');
    return browser;
  };
}

/**
 * A page that records everything that should not happen in normal use: console errors, page
 * errors, failed requests, error responses and dialogs. `expectStatus` allows the error answers a
 * test provokes on purpose (and the console line the browser writes for each).
 */
export class WatchedPage {
  readonly problems: string[] = [];
  private readonly expected: { status: number; path: string }[] = [];

  private constructor(
    readonly context: BrowserContext,
    readonly page: Page,
  ) {
    page.on('console', (entry) => {
      if (entry.type() !== 'error') return;
      const failedLoad = /status of (\d+)/.exec(entry.text());
      if (failedLoad && this.expected.some((e) => e.status === Number(failedLoad[1]))) return;
      this.problems.push(`console error: ${entry.text()}`);
    });
    page.on('pageerror', (error) => this.problems.push(`page error: ${error.message}`));
    page.on('requestfailed', (request) => this.problems.push(`request failed: ${request.method()} ${request.url()}: ${request.failure()?.errorText}`));
    page.on('response', (response) => {
      const { pathname } = new URL(response.url());
      if (response.status() >= 400 && !this.expected.some((e) => e.status === response.status() && pathname.startsWith(e.path))) {
        this.problems.push(`${response.status()} on ${response.request().method()} ${response.url()}`);
      }
    });
    page.on('dialog', (dialog) => {
      this.problems.push(`dialog: ${dialog.type()} ${dialog.message()}`);
      void dialog.dismiss();
    });
  }

  static async open(browser: Browser, viewport = { width: 1280, height: 800 }): Promise<WatchedPage> {
    const context = await browser.newContext({ viewport });
    return new WatchedPage(context, await context.newPage());
  }

  /** Error answers of this status on paths under this prefix are part of the test. */
  expectStatus(status: number, path: string): void {
    this.expected.push({ status, path });
  }

  /** Saves the screenshot, closes the page, and fails on any problem seen. */
  async finish(name: string): Promise<void> {
    mkdirSync(OUTPUT_DIR, { recursive: true });
    await this.page.screenshot({ path: join(OUTPUT_DIR, `${name}.png`), fullPage: true });
    const problems = [...this.problems];
    await this.context.close();
    expect(problems).toEqual([]);
  }
}
