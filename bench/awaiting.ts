/**
 * The awaiting scenario: `dispatcher.run(task)` of a no-op task, one at a time, with an idle
 * worker in another process, on SQLite and on PostgreSQL: the time from the enqueue call to the
 * resolved result. What it measures is how soon each side sees the other: the worker's wake-up
 * (LISTEN/NOTIFY on PostgreSQL, polling on SQLite) and the wait's (LISTEN/NOTIFY on the task
 * log's ends on PostgreSQL, polling from 5 ms on SQLite). See docs/tasks.md, "How the end is seen".
 */
import { fork } from 'node:child_process';
import { join } from 'node:path';
import { Queue, QueueDispatcher, RdsQueueBroker, RdsTaskLogBroker, TaskLog, silentLogger } from '../src';
import { BenchNoop, type BenchResult, LatencyRecorder, type ScenarioOptions, now, percentiles, scaled } from './common';
import { PgTarget } from './peers/pgTarget';
import { tempDatabase } from './sqliteSetup';

export async function awaitingScenario(options: ScenarioOptions): Promise<BenchResult[]> {
  const results: BenchResult[] = [];
  const db = tempDatabase();
  try {
    results.push(await measure('sqlite', `sqlite:${db.file}`, options));
  } finally {
    db.dispose();
  }
  const pg = await PgTarget.open(options.progress);
  try {
    const result = await measure('postgres', pg.db.url, options);
    result.details.server = pg.server;
    results.push(result);
  } finally {
    await pg.close();
  }
  return results;
}

async function measure(name: string, connection: string, options: ScenarioOptions): Promise<BenchResult> {
  const dispatcher = new QueueDispatcher({
    queues: [new Queue('await', new RdsQueueBroker({ connection }))],
    taskLog: new TaskLog(new RdsTaskLogBroker({ connection })),
    tasks: [BenchNoop],
    logger: silentLogger,
  });
  await dispatcher.initialize();
  const worker = fork(join(__dirname, 'awaitingWorker.js'), [connection], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  try {
    await new Promise<void>((resolve, reject) => {
      worker.once('message', () => resolve());
      worker.once('exit', (code) => reject(new Error(`the awaiting worker exited with ${code} before it was ready`)));
    });
    const warm = scaled(100, options, 20);
    const tasks = scaled(1_000, options);
    options.progress(`await: ${name}: warm-up ${warm}, then ${tasks} awaited one at a time`);
    const latencies = new LatencyRecorder();
    for (let i = 0; i < warm + tasks; i++) {
      // The worker is idle when each run starts: its previous task has ended, and a pause lets
      // it go back to waiting for work (the case the figure is about).
      await new Promise((resolve) => setTimeout(resolve, 5));
      const t = now();
      await dispatcher.run(new BenchNoop({ t, w: 1 }), { timeout: 30_000 });
      if (i >= warm) latencies.add(now() - t);
    }
    const total = latencies.values().reduce((sum, ms) => sum + ms, 0);
    return {
      scenario: 'await',
      case: `${name}: run() of a no-op, worker idle`,
      tasks,
      tasksPerSec: (tasks / total) * 1000,
      latency: percentiles(latencies.values()),
      details: { measures: 'enqueue call to resolved result', worker: 'another process, concurrency 1' },
    };
  } finally {
    worker.disconnect();
    await new Promise((resolve) => worker.once('exit', resolve));
    await dispatcher.close();
  }
}
