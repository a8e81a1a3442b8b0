import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { QueueDispatcher } from './queueDispatcher';
import type { TaskLogStats } from './taskLog/taskLog';
import { TaskLogFilter } from './taskLog/taskLogFilter';
import type { Worker } from './worker';

export interface TaskqMetricsOptions {
  dispatcher: QueueDispatcher;
  /** Where the metrics are registered; default a registry of their own (see `registry`). */
  registry?: Registry;
  /** Put before every metric's name; default `taskq_`. */
  prefix?: string;
  /** Also Node's process metrics (prom-client's collectDefaultMetrics) on this registry. */
  defaultMetrics?: boolean;
}

/** What the gauges show, as read at a scrape; undefined where the read failed. */
interface Readings {
  statuses?: ReadonlyArray<readonly [queue: string, stats: TaskLogStats]>;
  depths?: ReadonlyArray<readonly [queue: string, depth: number]>;
  workersAlive?: number;
}

/** Run durations, in seconds: from a no-op task to an hour-long one. */
const DURATION_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600];

/**
 * taskq's Prometheus metrics (prom-client). Counters and the run-duration histogram hang off a
 * Worker's events (`observeWorker`) and the dispatcher's enqueues (`observeEnqueues`); the
 * gauges (tasks by status, queue depth, workers alive) are read from the task log and the
 * brokers at scrape time. A read that fails at scrape time leaves its gauge without samples and
 * counts in `taskq_scrape_errors_total`: the scrape itself still answers.
 */
export class TaskqMetrics {
  readonly registry: Registry;
  private readonly dispatcher: QueueDispatcher;
  private readonly enqueued: Counter<'queue' | 'task'>;
  private readonly completed: Counter<'queue' | 'task'>;
  private readonly failed: Counter<'queue' | 'task'>;
  private readonly retried: Counter<'queue' | 'task'>;
  private readonly duration: Histogram<'queue' | 'task'>;
  private readonly scrapeErrors: Counter<'metric'>;
  private readonly prefix: string;
  /** The reads of the scrape under way, if any (see readings). */
  private reading?: Promise<Readings>;

  constructor(options: TaskqMetricsOptions) {
    this.dispatcher = options.dispatcher;
    this.registry = options.registry ?? new Registry();
    const prefix = options.prefix ?? 'taskq_';
    const registers = [this.registry];
    const counter = (name: string, help: string) => new Counter({ name: prefix + name, help, labelNames: ['queue', 'task'] as const, registers });
    this.enqueued = counter('tasks_enqueued_total', 'Tasks enqueued from this process, by queue and task name.');
    this.completed = counter('tasks_completed_total', 'Task runs that completed, by queue and task name.');
    this.failed = counter('tasks_failed_total', 'Tasks that ended failed, by queue and task name.');
    this.retried = counter('tasks_retried_total', 'Task runs that failed and were retried, by queue and task name.');
    this.duration = new Histogram({
      name: `${prefix}task_run_duration_seconds`,
      help: "How long tasks' code ran (completed, failed or retried runs), by queue and task name.",
      labelNames: ['queue', 'task'] as const,
      buckets: DURATION_BUCKETS,
      registers,
    });
    const readings = () => this.readings();
    const scraped = (name: string, help: string, labelNames: readonly string[], fill: (gauge: Gauge, readings: Readings) => boolean) => {
      new Gauge({
        name: prefix + name,
        help,
        labelNames,
        registers,
        async collect() {
          const read = await readings();
          this.reset();
          // Left out rather than wrong: a gauge without labels would read 0 after reset.
          if (!fill(this, read) && labelNames.length === 0) this.remove({});
        },
      });
    };
    scraped('tasks', 'Tasks in the task log, by status and queue.', ['status', 'queue'], (gauge, { statuses }) => {
      for (const [queue, stats] of statuses ?? []) for (const [status, count] of Object.entries(stats)) if (status !== 'total') gauge.set({ status, queue }, count);
      return statuses !== undefined;
    });
    scraped('queue_depth', 'Messages in each queue (waiting, delayed or held by a worker), as its broker counts them.', ['queue'], (gauge, { depths }) => {
      for (const [queue, depth] of depths ?? []) gauge.set({ queue }, depth);
      return depths !== undefined;
    });
    scraped('workers_alive', 'Workers whose heartbeat the task log saw lately.', [], (gauge, { workersAlive }) => {
      if (workersAlive !== undefined) gauge.set(workersAlive);
      return workersAlive !== undefined;
    });
    // Collected once the gauges' reads are done: a scrape counts its own failures.
    this.scrapeErrors = new Counter({
      name: `${prefix}scrape_errors_total`,
      help: 'Reads at scrape time that failed (their gauge was left out), by metric.',
      labelNames: ['metric'] as const,
      registers,
      async collect() {
        await readings();
      },
    });
    this.prefix = prefix;
    if (options.defaultMetrics) collectDefaultMetrics({ register: this.registry });
  }

  /** The Content-Type of `metrics()`'s text. */
  get contentType(): string {
    return this.registry.contentType;
  }

  /** Every metric of the registry, in Prometheus' text format. */
  metrics(): Promise<string> {
    return this.registry.metrics();
  }

  /** Counts the worker's runs and their durations from its events; returns the unsubscribe. */
  observeWorker(worker: Worker): () => void {
    const onCompleted = (e: { queue: string; taskName: string; durationMs: number }) => {
      this.completed.inc({ queue: e.queue, task: e.taskName });
      this.duration.observe({ queue: e.queue, task: e.taskName }, e.durationMs / 1000);
    };
    const onFailed = (e: { queue: string; taskName: string; durationMs: number; attempt: number }) => {
      this.failed.inc({ queue: e.queue, task: e.taskName });
      // A task failed without a claim (unknown, undecodable) did not run: no duration.
      if (e.attempt > 0) this.duration.observe({ queue: e.queue, task: e.taskName }, e.durationMs / 1000);
    };
    const onRetrying = (e: { queue: string; taskName: string; durationMs: number }) => {
      this.retried.inc({ queue: e.queue, task: e.taskName });
      this.duration.observe({ queue: e.queue, task: e.taskName }, e.durationMs / 1000);
    };
    worker.on('completed', onCompleted);
    worker.on('failed', onFailed);
    worker.on('retrying', onRetrying);
    return () => {
      worker.off('completed', onCompleted);
      worker.off('failed', onFailed);
      worker.off('retrying', onRetrying);
    };
  }

  /** Counts the tasks the dispatcher enqueues (reruns included) in this process; returns the unsubscribe. */
  observeEnqueues(): () => void {
    return this.dispatcher.onEnqueued((queue, taskNames) => {
      for (const task of taskNames) this.enqueued.inc({ queue, task });
    });
  }

  /**
   * What the gauges show, read once per scrape: every gauge's collect (and the error counter's)
   * awaits the same reads, started by the first of them. A read that fails is undefined, counted.
   */
  private readings(): Promise<Readings> {
    this.reading ??= this.read().finally(() => {
      this.reading = undefined;
    });
    return this.reading;
  }

  private async read(): Promise<Readings> {
    const { taskLog } = this.dispatcher;
    const queues = this.dispatcher.getQueues();
    const attempt = async <T>(metric: string, read: () => Promise<T>): Promise<T | undefined> => {
      try {
        return await read();
      } catch {
        this.scrapeErrors.inc({ metric: this.prefix + metric });
        return undefined;
      }
    };
    const [statuses, depths, workersAlive] = await Promise.all([
      attempt('tasks', () => Promise.all(queues.map(async (queue) => [queue.name, await taskLog.getStats(new TaskLogFilter().eq('queue', queue.name))] as const))),
      attempt('queue_depth', () => Promise.all(queues.map(async (queue) => [queue.name, await queue.broker.count(queue.name)] as const))),
      attempt('workers_alive', async () => (await taskLog.listWorkers()).filter((worker) => worker.alive).length),
    ]);
    return { statuses, depths, workersAlive };
  }
}
