/**
 * The worker process of the SQLite worker scenario: one `Worker`, as `taskq run-worker` runs it,
 * on the database file the parent fills. Forked by sqlite.ts; reports over IPC.
 */
import { Worker, silentLogger } from '../src';
import { LatencyRecorder, now, recordInto } from './common';
import { type WorkerJob, type WorkerReport, sqliteDispatcher } from './sqliteSetup';

function send(report: WorkerReport): Promise<void> {
  return new Promise((resolve, reject) => {
    if (!process.send) return reject(new Error('sqliteWorker must be started by the benchmark (fork with IPC)'));
    process.send(report, (error: Error | null) => (error ? reject(error) : resolve()));
  });
}

async function main(): Promise<void> {
  const job = JSON.parse(process.argv[2]) as WorkerJob;
  const dispatcher = sqliteDispatcher(job.file, job.receive);
  // A worker receives only its free slots unless told to prefetch: these rows measure a worker
  // that holds up to `receive` messages, as their name says.
  const prefetch = Math.max(0, job.receive - job.concurrency);
  const options = { concurrency: job.concurrency, prefetch, claimAhead: job.claimAhead === true, logger: silentLogger, ...(job.idleMinMs !== undefined ? { idleMinMs: job.idleMinMs } : {}) };
  if (job.mode === 'drain') {
    await new Worker(dispatcher, { ...options, limit: job.warm }).run();
    const start = now();
    const stats = await new Worker(dispatcher, { ...options, limit: job.tasks }).run();
    const ms = now() - start;
    await dispatcher.close();
    await send({ type: 'result', ms, ...stats });
  } else {
    const recorder = new LatencyRecorder();
    recordInto(recorder);
    const worker = new Worker(dispatcher, { ...options, limit: job.warm + job.tasks });
    const running = worker.run();
    await send({ type: 'ready' });
    const start = now();
    const stats = await running;
    const ms = now() - start;
    recordInto(null);
    await dispatcher.close();
    await send({ type: 'result', ms, ...stats, latencies: Array.from(recorder.values()) });
  }
  process.disconnect?.();
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
