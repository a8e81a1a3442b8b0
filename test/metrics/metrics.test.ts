import Database from 'better-sqlite3';
import { mkdtempSync, rmSync } from 'node:fs';
import { get } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { AbstractTask, Queue, QueueDispatcher, RdsQueueBroker, RdsTaskLogBroker, TaskLog, TaskLogFilter, TaskStatus, TaskqMetrics, Worker, serveMetrics, silentLogger, type QueueBroker } from '../../src';
import { CliProject, collect } from '../helpers/cliProject';
import { usePostgresDatabase } from '../helpers/postgres';
import { until } from '../helpers/wait';

/** parse-prometheus-text-format ships no types: the shape of what it returns (prom2json's). */
interface MetricFamily {
  name: string;
  type: string;
  metrics: Array<{ labels?: Record<string, string>; value?: string }>;
}
const parsePrometheus = require('parse-prometheus-text-format') as (text: string) => MetricFamily[];

/**
 * Parses a scrape with the Prometheus text parser. It folds a histogram's series into one
 * unlabeled sample, so histograms are read a second time as plain series (`NAME_count` etc.).
 */
function parseScrape(text: string): MetricFamily[] {
  return [...parsePrometheus(text), ...parsePrometheus(text.replace(/^# TYPE (\S+) histogram$/gm, '# TYPE $1 untyped')).filter((f) => /_(bucket|count|sum)$/.test(f.name))];
}

/** The samples of one metric (every family of that name), as numbers keyed by their labels (`k=v,k=v`, sorted). */
function samples(families: MetricFamily[], name: string): Record<string, number> {
  const named = families.filter((f) => f.name === name);
  if (named.length === 0) throw new Error(`metric ${name} is not in the scrape (have ${families.map((f) => f.name).join(', ')})`);
  const out: Record<string, number> = {};
  for (const metric of named.flatMap((f) => f.metrics)) {
    const key = Object.entries(metric.labels ?? {})
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([k, v]) => `${k}=${v}`)
      .join(',');
    out[key] = Number(metric.value);
  }
  return out;
}

class Succeeds extends AbstractTask<{ n: number }> {
  static override taskName = 'Succeeds';
  run() {
    return { n: this.getParameter('n') };
  }
}

class Fails extends AbstractTask<Record<string, never>> {
  static override taskName = 'Fails';
  static override backoff = 10;
  run(): never {
    throw new Error('boom');
  }
}

const TASKS = [Succeeds, Fails];

interface Setup {
  brokers: () => { a: QueueBroker; b: QueueBroker; log: RdsTaskLogBroker };
  cleanup: () => void;
}

const setups: [string, () => Setup][] = [
  [
    'sqlite',
    () => {
      const dir = mkdtempSync(join(tmpdir(), 'taskq-metrics-'));
      const connection = `sqlite:${join(dir, 'q.db')}`;
      return {
        brokers: () => ({ a: new RdsQueueBroker({ connection }), b: new RdsQueueBroker({ connection }), log: new RdsTaskLogBroker({ connection }) }),
        cleanup: () => rmSync(dir, { recursive: true, force: true }),
      };
    },
  ],
];
const pg = usePostgresDatabase('metrics');
if (pg) {
  let n = 0;
  setups.push([
    'postgres',
    () => {
      const suffix = `${process.pid}_${++n}`;
      return {
        brokers: () => ({ a: new RdsQueueBroker({ connection: pg, table: `m_${suffix}` }), b: new RdsQueueBroker({ connection: pg, table: `m_${suffix}` }), log: new RdsTaskLogBroker({ connection: pg, table: `log_${suffix}` }) }),
        cleanup: () => undefined,
      };
    },
  ]);
}

describe.each(setups)('TaskqMetrics on %s', (_name, makeSetup) => {
  let setup: Setup;
  let dispatcher: QueueDispatcher;

  beforeEach(async () => {
    setup = makeSetup();
    const { a, b, log } = setup.brokers();
    dispatcher = new QueueDispatcher({ queues: [new Queue('a', a), new Queue('b', b)], taskLog: new TaskLog(log), tasks: TASKS, logger: silentLogger, associations: { Fails: 'b' } });
    await dispatcher.initialize();
  });

  afterEach(async () => {
    await dispatcher.close();
    setup.cleanup();
  });

  test('counters, the run-duration histogram and the scrape-time gauges match what ran and the log', async () => {
    const metrics = new TaskqMetrics({ dispatcher });
    const stopCounting = metrics.observeEnqueues();
    const ended: AbstractTask<object>[] = await dispatcher.enqueueMany([new Succeeds({ n: 1 }), new Succeeds({ n: 2 })]);
    ended.push(await dispatcher.enqueue(new Fails({}), { maxAttempts: 2 }));
    // Waits on queue b for a minute: enqueued in the log, one message deep.
    await dispatcher.enqueue(new Succeeds({ n: 3 }), { queue: 'b', delay: 60_000 });

    const worker = new Worker(dispatcher, { idleMaxMs: 20, logger: silentLogger });
    metrics.observeWorker(worker);
    void worker.run();
    try {
      await until(async () => {
        for (const task of ended) {
          const status = await dispatcher.taskLog.getStatus(task.id);
          if (status !== TaskStatus.Completed && status !== TaskStatus.Failed) return false;
        }
        return (await dispatcher.getQueue('a').count()) === 0 && (await dispatcher.getQueue('b').count()) === 1;
      }, 15_000, 'the tasks to end and their messages to go');
      await until(() => worker.stats.failed === 1, 5_000, 'the failure to be counted');

      const families = parseScrape(await metrics.metrics());
      expect(samples(families, 'taskq_tasks_enqueued_total')).toEqual({ 'queue=a,task=Succeeds': 2, 'queue=b,task=Fails': 1, 'queue=b,task=Succeeds': 1 });
      expect(samples(families, 'taskq_tasks_completed_total')).toEqual({ 'queue=a,task=Succeeds': 2 });
      expect(samples(families, 'taskq_tasks_failed_total')).toEqual({ 'queue=b,task=Fails': 1 });
      expect(samples(families, 'taskq_tasks_retried_total')).toEqual({ 'queue=b,task=Fails': 1 });
      expect(samples(families, 'taskq_task_run_duration_seconds_count')).toEqual({ 'queue=a,task=Succeeds': 2, 'queue=b,task=Fails': 2 });
      expect(families.find((f) => f.name === 'taskq_task_run_duration_seconds')?.type).toBe('HISTOGRAM');

      // The gauges say what the log and the brokers say, status by status.
      const statuses = samples(families, 'taskq_tasks');
      for (const queue of ['a', 'b']) {
        const stats = await dispatcher.taskLog.getStats(new TaskLogFilter().eq('queue', queue));
        for (const [status, count] of Object.entries(stats)) if (status !== 'total') expect([queue, status, statuses[`queue=${queue},status=${status}`]]).toEqual([queue, status, count]);
      }
      expect(statuses).toMatchObject({ 'queue=a,status=completed': 2, 'queue=b,status=failed': 1, 'queue=b,status=enqueued': 1, 'queue=a,status=running': 0 });
      expect(samples(families, 'taskq_queue_depth')).toEqual({ 'queue=a': 0, 'queue=b': 1 });
      expect(samples(families, 'taskq_workers_alive')).toEqual({ '': 1 });
      expect(families.find((f) => f.name === 'taskq_scrape_errors_total')?.metrics ?? []).toEqual([]);
    } finally {
      await worker.stop();
      stopCounting();
    }
    // Unsubscribed: later enqueues are not counted here.
    await dispatcher.enqueue(new Succeeds({ n: 4 }));
    expect(samples(parseScrape(await metrics.metrics()), 'taskq_tasks_enqueued_total')['queue=a,task=Succeeds']).toBe(2);
  });

  test('a prefix and a registry of the caller, with Node process metrics when asked', async () => {
    const registry = new Registry();
    const metrics = new TaskqMetrics({ dispatcher, registry, prefix: 'app_', defaultMetrics: true });
    await dispatcher.enqueue(new Succeeds({ n: 1 }));
    const names = parseScrape(await registry.metrics()).map((f) => f.name);
    expect(names).toEqual(expect.arrayContaining(['app_tasks_completed_total', 'app_tasks', 'app_queue_depth', 'app_workers_alive', 'process_resident_memory_bytes']));
    expect(names.some((n) => n.startsWith('taskq_'))).toBe(false);
    expect(metrics.contentType).toBe(registry.contentType);
    // Its own registry otherwise: two of them never clash over a name.
    expect(() => [new TaskqMetrics({ dispatcher }), new TaskqMetrics({ dispatcher })]).not.toThrow();
  });
});

describe('TaskqMetrics scrape errors (SQLite)', () => {
  test('a gauge whose read fails is left out and counted; the scrape still answers', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'taskq-metrics-'));
    const connection = `sqlite:${join(dir, 'q.db')}`;
    const dispatcher = new QueueDispatcher({ queues: [new Queue('a', new RdsQueueBroker({ connection, table: 'messages' }))], taskLog: new TaskLog(new RdsTaskLogBroker({ connection })), tasks: TASKS, logger: silentLogger });
    try {
      await dispatcher.initialize();
      await dispatcher.enqueue(new Succeeds({ n: 1 }));
      const metrics = new TaskqMetrics({ dispatcher });
      // The queue's table is gone: its depth cannot be read; the log still can.
      const db = new Database(join(dir, 'q.db'));
      db.exec('DROP TABLE messages');
      db.close();
      const first = parseScrape(await metrics.metrics());
      expect(samples(first, 'taskq_queue_depth')).toEqual({});
      expect(samples(first, 'taskq_tasks')['queue=a,status=enqueued']).toBe(1);
      expect(samples(first, 'taskq_scrape_errors_total')).toEqual({ 'metric=taskq_queue_depth': 1 });
      const second = parseScrape(await metrics.metrics());
      expect(samples(second, 'taskq_scrape_errors_total')).toEqual({ 'metric=taskq_queue_depth': 2 });
    } finally {
      await dispatcher.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

/** GETs a URL: status, content type and body. */
function fetchText(url: string): Promise<{ status: number; type: string; body: string }> {
  return new Promise((resolve, reject) => {
    get(url, (response) => {
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (body += chunk));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, type: String(response.headers['content-type']), body }));
    }).on('error', reject);
  });
}

test('serveMetrics answers /metrics in the Prometheus format and 404 elsewhere', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'taskq-metrics-'));
  const connection = `sqlite:${join(dir, 'q.db')}`;
  const dispatcher = new QueueDispatcher({ queues: [new Queue('a', new RdsQueueBroker({ connection }))], taskLog: new TaskLog(new RdsTaskLogBroker({ connection })), tasks: TASKS, logger: silentLogger });
  const metrics = new TaskqMetrics({ dispatcher });
  const server = await serveMetrics(metrics, { port: 0 });
  try {
    await dispatcher.initialize();
    expect(server.url).toBe(`http://127.0.0.1:${server.port}/metrics`);
    const scrape = await fetchText(server.url);
    expect(scrape.status).toBe(200);
    expect(scrape.type).toMatch(/^text\/plain; version=0\.0\.4/);
    expect(samples(parseScrape(scrape.body), 'taskq_queue_depth')).toEqual({ 'queue=a': 0 });
    expect((await fetchText(`http://127.0.0.1:${server.port}/`)).status).toBe(404);
  } finally {
    await server.close();
    await dispatcher.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

describe('taskq run-worker --metrics-port (real CLI, SQLite)', () => {
  jest.setTimeout(120_000);
  let project: CliProject;

  beforeEach(async () => {
    project = await CliProject.initialized();
  });

  afterEach(() => project.remove());

  test('serves the worker\'s metrics while it runs, on the port it logs; closed when it stops', async () => {
    const ids = [await project.enqueue('Hello', { name: 'a' }), await project.enqueue('Hello', { name: 'b' }), await project.enqueue('Fail', {})];
    const worker = project.spawn(['run-worker', '--metrics-port', '0', '--log-level=info']);
    const done = collect(worker);
    let stderr = '';
    worker.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    await until(() => /metrics on http:\/\/127\.0\.0\.1:\d+\/metrics/.test(stderr), 60_000, 'the metrics line');
    const url = /metrics on (http:\/\/127\.0\.0\.1:\d+\/metrics)/.exec(stderr)?.[1] as string;
    let families: MetricFamily[] = [];
    await until(async () => {
      families = parseScrape((await fetchText(url)).body);
      const completed = samples(families, 'taskq_tasks_completed_total')['queue=standard,task=Hello'] ?? 0;
      const failed = samples(families, 'taskq_tasks_failed_total')['queue=standard,task=Fail'] ?? 0;
      return completed === 2 && failed === 1;
    }, 60_000, 'the three runs in the scrape');
    expect(samples(families, 'taskq_task_run_duration_seconds_count')).toEqual({ 'queue=standard,task=Hello': 2, 'queue=standard,task=Fail': 1 });
    expect(samples(families, 'taskq_workers_alive')).toEqual({ '': 1 });
    expect(families.map((f) => f.name)).toContain('process_resident_memory_bytes');
    expect(ids).toHaveLength(3);
    worker.kill('SIGTERM');
    expect((await done).code).toBe(0);
    await expect(fetchText(url)).rejects.toThrow(/ECONNREFUSED/);
  });

  test('a --metrics-port out of range is a usage error (exit 2)', async () => {
    const result = await project.run(['run-worker', '--metrics-port', '70000']);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/--metrics-port must be at most 65535, got 70000/);
  });
});
