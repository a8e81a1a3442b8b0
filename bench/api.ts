/**
 * The HTTP API's latency under load: `GET /api/tasks?…` and `GET /api/stats`, one request at a
 * time, while a worker process (the SQLite worker scenario's) runs no-op tasks that a producer
 * process enqueues at a steady 1,000 tasks/s, on one SQLite file that already holds a history of
 * tasks. The server is a process of its own too (bench/apiServer.ts, as `taskq serve` runs);
 * this process only sends the requests and times them. The same requests are timed again at the
 * end, with every task run and nothing else running, for comparison (idleP50Ms, idleP99Ms).
 */
import { type ChildProcess, fork } from 'node:child_process';
import { join } from 'node:path';
import { TaskLogFilter, TaskStatus } from '../src';
import { BenchNoop, type BenchResult, LatencyRecorder, type ScenarioOptions, now, percentiles, scaled, sleep } from './common';
import type { PaceResult } from './pace';
import { type WorkerJob, type WorkerReport, sqliteDispatcher, tempDatabase } from './sqliteSetup';

export interface ApiBenchOptions extends ScenarioOptions {
  workerExecArgv: string[];
}

const RATE = 1000;

/** The first message of `type` from `child` (rejects if it exits first). */
function messageOf<T>(child: ChildProcess, type: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const onMessage = (message: { type: string }) => {
      if (message.type !== type) return;
      child.off('message', onMessage);
      resolve(message as T);
    };
    child.on('message', onMessage);
    child.once('exit', (code) => reject(new Error(`${type}: the process exited with code ${code} first`)));
  });
}

const exited = (child: ChildProcess): Promise<void> => new Promise((resolve) => (child.exitCode !== null ? resolve() : child.once('exit', () => resolve())));

async function time(url: string, path: string): Promise<number> {
  const start = now();
  const res = await fetch(`${url}${path}`);
  await res.arrayBuffer();
  if (res.status !== 200) throw new Error(`GET ${path}: ${res.status}`);
  return now() - start;
}

export async function apiScenario(options: ApiBenchOptions): Promise<BenchResult[]> {
  const db = tempDatabase();
  const children: ChildProcess[] = [];
  const spawn = (script: string, args: string[]) => {
    const child = fork(join(__dirname, script), args, { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], execArgv: options.workerExecArgv });
    children.push(child);
    return child;
  };
  try {
    const dispatcher = sqliteDispatcher(db.file, 100);
    await dispatcher.initialize();
    // A history for the queries to go through: the worker runs it first, as its warm-up.
    const history = scaled(50_000, options);
    options.progress(`api: ${history} tasks of history`);
    for (let i = 0; i < history; i += 1000) {
      await dispatcher.enqueueMany(Array.from({ length: Math.min(1000, history - i) }, () => new BenchNoop({ t: now(), w: 1 })));
    }

    const server = spawn('apiServer.js', [db.file]);
    const { url } = await messageOf<{ url: string }>(server, 'listening');
    const since = new Date(Date.now() - 60_000).toISOString();
    const requests = [
      '/api/tasks?status=completed&limit=50',
      `/api/tasks?filter=createdAt:gte:${since}&filter=status:in:completed,failed&limit=50`,
      '/api/queues',
      '/api/stats',
      '/api/stats?taskName=BenchNoop',
    ];

    // The worker drains the history (its warm-up), then keeps up with the producer.
    const warmMs = 1000;
    const measureMs = Math.max(2000, Math.round(10_000 * Math.min(1, options.scale * 2)));
    const warmTasks = Math.round((RATE * warmMs) / 1000);
    const tasks = Math.round((RATE * measureMs) / 1000);
    const job: WorkerJob = { file: db.file, receive: 100, concurrency: 1, mode: 'paced', warm: history + warmTasks, tasks };
    options.progress(`api: draining the history, then ${RATE} tasks/s for ${measureMs} ms, requests one at a time`);
    const worker = spawn('sqliteWorker.js', [JSON.stringify(job)]);
    const result = messageOf<Extract<WorkerReport, { type: 'result' }>>(worker, 'result');
    await messageOf(worker, 'ready');
    // The producer starts once the history has run: the figures are of a worker keeping up.
    const completed = new TaskLogFilter().eq('status', TaskStatus.Completed);
    while ((await dispatcher.taskLog.count(completed)) < history) await sleep(100);
    await dispatcher.close();
    const producer = spawn('apiProducer.js', [db.file, String(RATE), String(warmMs), String(measureMs)]);
    const produced = messageOf<PaceResult>(producer, 'produced');
    // Measured from the end of the producer's warm-up second to its end.
    const started = now();
    producer.send({ type: 'start' });
    let done = false;
    void produced.then(
      () => (done = true),
      () => (done = true),
    );
    const loaded = requests.map(() => new LatencyRecorder());
    let measuredFrom = 0;
    for (let i = 0; !done; i = (i + 1) % requests.length) {
      const ms = await time(url, requests[i]);
      if (now() - started < warmMs) continue;
      if (measuredFrom === 0) measuredFrom = now();
      loaded[i].add(ms);
    }
    const measuredMs = now() - measuredFrom;
    const pace = await produced;
    const ran = await result;
    // The same requests once everything has run and nothing else does, for comparison.
    const idle = requests.map(() => new LatencyRecorder());
    for (let round = 0; round < 25; round++) {
      for (let i = 0; i < requests.length; i++) {
        const ms = await time(url, requests[i]);
        if (round >= 5) idle[i].add(ms);
      }
    }
    server.send({ type: 'stop' });
    await Promise.all(children.map(exited));
    if (ran.completed !== job.warm + job.tasks) throw new Error(`api: the worker completed ${ran.completed} of ${job.warm + job.tasks} tasks`);
    return requests.map((path, i) => {
      const at = percentiles(idle[i].values());
      return {
        scenario: 'api',
        case: `GET ${path.replace(since, 'T-60s')}`,
        tasks: loaded[i].count,
        tasksPerSec: (loaded[i].count / measuredMs) * 1000,
        latency: percentiles(loaded[i].values()),
        details: {
          meaning: 'tasks = requests, tasks/s = requests/s, latency = request round trip (ms) while the worker runs',
          workerTasksPerSec: Math.round(pace.rate),
          workerEnqueueToStartP50Ms: Math.round((percentiles(Float64Array.from(ran.latencies ?? []))?.p50 ?? 0) * 100) / 100,
          logRows: history + warmTasks + tasks,
          idleP50Ms: Math.round((at?.p50 ?? 0) * 100) / 100,
          idleP99Ms: Math.round((at?.p99 ?? 0) * 100) / 100,
        },
      };
    });
  } finally {
    for (const child of children) if (child.exitCode === null) child.kill();
    db.dispose();
  }
}
