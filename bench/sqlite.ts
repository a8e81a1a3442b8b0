/**
 * Scenarios 3 and 4: RdsQueueBroker + RdsTaskLogBroker on one temporary SQLite file.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { join } from 'node:path';
import { BenchNoop, type BenchResult, LatencyRecorder, type ScenarioOptions, median, now, percentiles, recordInto, scaled, yieldToLoop } from './common';
import { pace } from './pace';
import { type WorkerJob, type WorkerReport, sqliteDispatcher, tempDatabase } from './sqliteSetup';

export interface SqliteOptions extends ScenarioOptions {
  /** Extra node flags for the worker processes (e.g. --cpu-prof). */
  workerExecArgv: string[];
}

/**
 * 3. Enqueue only (no worker): one awaited `enqueue` per task, then `enqueueMany` in batches.
 * Each enqueue writes the task log row and the message row; a batch writes each in one go.
 */
export async function sqliteEnqueue(options: ScenarioOptions): Promise<BenchResult[]> {
  const rounds = 3;
  const cases = [
    { batch: 1, perRound: scaled(20_000, options) },
    { batch: 100, perRound: scaled(50_000, options) },
    { batch: 1000, perRound: scaled(100_000, options) },
  ];
  const results: BenchResult[] = [];
  for (const { batch, perRound: wanted } of cases) {
    // A fresh file per case: the task log's size changes the figure (see docs/benchmarks.md).
    const db = tempDatabase();
    try {
      const dispatcher = sqliteDispatcher(db.file, 100);
      await dispatcher.initialize();
      recordInto(null);
      const perRound = Math.max(batch, Math.round(wanted / batch) * batch);
      const warm = Math.max(batch, Math.round(scaled(5_000, options) / batch) * batch);
      const label = batch === 1 ? 'single enqueue' : `enqueueMany, batches of ${batch}`;
      options.progress(`sqlite-enqueue: ${label}: warm-up ${warm}`);
      const calls = new LatencyRecorder();
      const enqueue = async (count: number, timed: boolean) => {
        for (let i = 0; i < count; i += batch) {
          if (batch === 1) {
            const t = now();
            await dispatcher.enqueue(new BenchNoop({ t, w: 1 }));
            if (timed) calls.add(now() - t);
          } else {
            const tasks = new Array<BenchNoop>(batch);
            for (let j = 0; j < batch; j++) tasks[j] = new BenchNoop({ t: now(), w: 1 });
            await dispatcher.enqueueMany(tasks);
          }
        }
      };
      await enqueue(warm, false);
      const rates: number[] = [];
      for (let r = 0; r < rounds; r++) {
        await yieldToLoop();
        const start = now();
        await enqueue(perRound, true);
        rates.push((perRound / (now() - start)) * 1000);
        options.progress(`sqlite-enqueue: ${label}: round ${r + 1}/${rounds}: ${Math.round(rates[r])} tasks/s`);
      }
      const details: BenchResult['details'] = { rounds, perRound, warmup: warm, perRoundRates: rates.map((x) => Math.round(x)).join('/'), logRowsAtEnd: warm + perRound * rounds };
      if (batch === 1) {
        const call = percentiles(calls.values());
        details.callP50Ms = round3(call?.p50);
        details.callP99Ms = round3(call?.p99);
        details.callMaxMs = round3(call?.max);
      }
      results.push({
        scenario: 'sqlite-enqueue',
        case: label,
        tasks: perRound * rounds,
        tasksPerSec: median(rates),
        latency: null,
        target: batch === 1000 ? 50_000 : undefined,
        details,
      });
      await dispatcher.close();
    } finally {
      db.dispose();
    }
  }
  return results;
}

/**
 * 4. One worker process (a forked Node process running one `Worker`, as `taskq run-worker`
 * does), its queue and task log on the same SQLite file as this process's dispatcher.
 * drain: N tasks queued first, then timed from the worker's start to its last task.
 * paced: this process enqueues one task at a time at a steady rate; latency is enqueue→start
 * across the two processes (the worker finds new tasks by polling, with its default back-off).
 */
export async function sqliteWorker(options: SqliteOptions): Promise<BenchResult[]> {
  const results: BenchResult[] = [];
  const configs = [
    { receive: 100, concurrency: 1 },
    { receive: 100, concurrency: 1, claimAhead: true },
    { receive: 100, concurrency: 8 },
    { receive: 100, concurrency: 8, claimAhead: true },
    { receive: 5, concurrency: 1 },
  ];
  for (const { receive, concurrency, claimAhead } of configs) {
    // The case's name: the worker's settings beyond receive and concurrency.
    const ahead = claimAhead ? ', claimAhead' : '';
    const db = tempDatabase();
    try {
      const dispatcher = sqliteDispatcher(db.file, receive);
      await dispatcher.initialize();
      recordInto(null);

      const warm = scaled(5_000, options);
      const n = scaled(receive >= 50 ? 50_000 : 20_000, options);
      options.progress(`sqlite-worker receive=${receive} c=${concurrency}${ahead}: drain ${n} (+${warm} warm-up)`);
      for (let i = 0; i < warm + n; i += 1000) {
        await dispatcher.enqueueMany(Array.from({ length: Math.min(1000, warm + n - i) }, () => new BenchNoop({ t: now(), w: 1 })));
      }
      const drain = await runWorker({ file: db.file, receive, concurrency, claimAhead, mode: 'drain', warm, tasks: n }, options);
      if (drain.result.completed !== n) throw new Error(`sqlite-worker: ${drain.result.completed} of ${n} tasks completed`);
      results.push({
        scenario: 'sqlite-worker',
        case: `drain, receive=${receive}, c=${concurrency}${ahead}`,
        tasks: n,
        tasksPerSec: (n / drain.result.ms) * 1000,
        latency: null,
        target: receive >= 50 ? 5_000 : undefined,
        details: { receive, concurrency, claimAhead: claimAhead === true, warmup: warm, backlogAtStart: n },
      });

      // Paced runs: 1000/s everywhere; 100/s and a short idle back-off on the c=1 worker.
      const pacedRuns: { rate: number; idleMinMs?: number }[] = [{ rate: 1000 }];
      if (receive >= 50 && concurrency === 1 && !claimAhead) pacedRuns.push({ rate: 100 }, { rate: 1000, idleMinMs: 2 });
      for (const { rate, idleMinMs } of pacedRuns) {
        const warmMs = 1000;
        const measureMs = Math.max(1000, Math.round((rate >= 1000 ? 4000 : 5000) * Math.min(1, options.scale * 2)));
        const warmTasks = Math.round((rate * warmMs) / 1000);
        const tasks = Math.round((rate * measureMs) / 1000);
        const idle = idleMinMs === undefined ? '' : `, idleMinMs=${idleMinMs}`;
        options.progress(`sqlite-worker receive=${receive} c=${concurrency}${ahead}${idle}: paced ${rate}/s for ${measureMs} ms`);
        const paced = await runWorker({ file: db.file, receive, concurrency, claimAhead, mode: 'paced', warm: warmTasks, tasks, idleMinMs }, options, () =>
          pace(rate, warmMs, measureMs, async (w) => {
            await dispatcher.enqueue(new BenchNoop(w ? { t: now(), w: 1 } : { t: now() }));
          }),
        );
        const latencies = Float64Array.from(paced.result.latencies ?? []);
        if (latencies.length !== tasks) throw new Error(`sqlite-worker: ${latencies.length} latencies for ${tasks} tasks`);
        results.push({
          scenario: 'sqlite-worker',
          case: `paced ${rate}/s, receive=${receive}, c=${concurrency}${ahead}${idle}`,
          tasks,
          tasksPerSec: paced.produced?.rate ?? 0,
          latency: percentiles(latencies),
          details: { receive, concurrency, claimAhead: claimAhead === true, offeredPerSec: rate, idleMinMs: idleMinMs ?? 'default (5)' },
        });
      }
      await dispatcher.close();
    } finally {
      db.dispose();
    }
  }
  return results;
}

interface WorkerRun<P> {
  result: Extract<WorkerReport, { type: 'result' }>;
  produced?: P;
}

/** Forks a worker process for `job`; in paced mode runs `produce` once the worker is ready. */
async function runWorker<P>(job: WorkerJob, options: SqliteOptions, produce?: () => Promise<P>): Promise<WorkerRun<P>> {
  const child: ChildProcess = fork(join(__dirname, 'sqliteWorker.js'), [JSON.stringify(job)], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    execArgv: options.workerExecArgv,
  });
  let produced: P | undefined;
  let producing: Promise<void> | undefined;
  const result = await new Promise<Extract<WorkerReport, { type: 'result' }>>((resolve, reject) => {
    let done = false;
    child.on('message', (report: WorkerReport) => {
      if (report.type === 'ready' && produce) {
        producing = produce().then(
          (p) => void (produced = p),
          (error: unknown) => {
            child.kill();
            reject(error as Error);
          },
        );
      } else if (report.type === 'result') {
        done = true;
        resolve(report);
      }
    });
    child.on('error', reject);
    child.on('exit', (code) => {
      if (!done) reject(new Error(`the worker process exited with code ${code} before reporting`));
    });
  });
  await producing;
  await new Promise<void>((resolve) => (child.exitCode !== null ? resolve() : child.once('exit', () => resolve())));
  return { result, produced };
}

function round3(value: number | undefined): number {
  return value === undefined ? 0 : Math.round(value * 1000) / 1000;
}
