/**
 * `npm run bench -- --peers=worker-memory [--scale=X]`: does a worker's memory stay flat over
 * 1,000,000 tasks? One taskq worker process (PostgreSQL, receive 50, concurrency 10, prefetch 40:
 * the r50 variant of the side-by-side run, task log on) runs 1,000,000 no-op tasks while this
 * process keeps about 50,000 queued (bulk calls of 1,000, topped up 10,000 at a time). The worker
 * samples its RSS and heap used, after a full GC (it runs with --expose-gc), before the first task
 * and every 1/50 of the tasks. Flat: the end within 5 % of the sample at 10 % of the tasks (the
 * first 10 % warm up: pools, JIT, caches).
 */
import { now, scaled } from '../common';
import { withCleanup } from './interrupt';
import { MemoryWorkerProcess } from './memoryWorkerProcess';
import type { JobPayload } from './peer';
import type { PeersOptions } from './peers';
import { PgTarget } from './pgTarget';
import type { MemorySample, WorkerMemoryReport } from './report';
import { TaskqPeer } from './taskqPeer';
import { CONCURRENCY, type TaskqSettings } from './variants';

const TASKS = 1_000_000;
const BACKLOG = 50_000;
const TOP_UP = 10_000;
const BULK = 1_000;
const SAMPLES = 50;
/** The growth under which memory counts as flat, in per cent. */
export const FLAT_PCT = 5;

const SETTINGS: TaskqSettings = { system: 'taskq', receive: 50, prefetch: 40 };

function payloads(count: number): JobPayload[] {
  return Array.from({ length: count }, () => ({ t: now(), w: 1 }));
}

/** Growth of the last sample over the first at or after 10 % of the tasks, in per cent. */
function growth(samples: readonly MemorySample[], total: number, of: (s: MemorySample) => number): number {
  const base = samples.find((s) => s.tasks >= total / 10);
  const end = samples[samples.length - 1];
  if (!base || !end) return NaN;
  return ((of(end) - of(base)) / of(base)) * 100;
}

export async function workerMemoryScenario(options: PeersOptions): Promise<WorkerMemoryReport> {
  // Whole top-ups (so a whole number of tasks per sample too).
  const total = Math.max(TOP_UP, Math.round(scaled(TASKS, options) / TOP_UP) * TOP_UP);
  const backlog = Math.min(BACKLOG, total);
  const sampleEvery = total / SAMPLES;
  const target = await PgTarget.open(options.progress);
  const { db } = target;
  return withCleanup(`database ${db.name}`, () => target.close(), async () => {
    const producer = new TaskqPeer(db.url, SETTINGS);
    await producer.install();
    let enqueued = 0;
    const enqueue = async (count: number) => {
      for (let i = 0; i < count; i += BULK) await producer.enqueueBulk(payloads(Math.min(BULK, count - i)));
      enqueued += count;
    };
    options.progress(`worker-memory: ${total} tasks, ${backlog} kept queued, a sample every ${sampleEvery}`);
    await enqueue(backlog);
    const worker = new MemoryWorkerProcess({ url: db.url, settings: SETTINGS, concurrency: CONCURRENCY, sampleEvery }, options.workerExecArgv);
    let seconds: number;
    try {
      await worker.until('worker process connecting', () => worker.ready);
      const start = now();
      worker.tell('start');
      let reported = 0;
      while (worker.ran < total) {
        if (enqueued < total && enqueued - worker.ran <= backlog - TOP_UP) await enqueue(Math.min(TOP_UP, total - enqueued));
        else await worker.until(`waiting for ${total} tasks (${worker.ran} run)`, () => worker.ran >= total || (enqueued < total && enqueued - worker.ran <= backlog - TOP_UP));
        if (worker.ran - reported >= total / 10) {
          reported = worker.ran;
          const last = worker.samples[worker.samples.length - 1];
          options.progress(`worker-memory: ${worker.ran} tasks, ${Math.round(worker.ran / ((now() - start) / 1000))} tasks/s, rss ${last?.rssMiB.toFixed(1)} MiB, heap used ${last?.heapUsedMiB.toFixed(1)} MiB`);
        }
      }
      seconds = (now() - start) / 1000;
      await worker.until('the last sample', () => worker.samples.some((s) => s.tasks === total));
      worker.tell('stop');
      await worker.until('the worker process stopping', () => worker.stopped);
    } finally {
      worker.kill();
      await producer.close();
    }
    const [row] = await db.query<{ n: string }>(`SELECT count(*) AS n FROM taskq_task_log WHERE status = 'completed'`);
    if (Number(row.n) !== total || worker.ran !== total) throw new Error(`worker-memory: ${worker.ran} task runs, ${row.n} log entries completed, for ${total} tasks`);
    const samples = [...worker.samples].sort((a, b) => a.tasks - b.tasks);
    return {
      postgres: await db.serverVersion(),
      server: target.server,
      database: db.name,
      tasks: total,
      worker: `one worker process, RdsQueueBroker receive ${SETTINGS.receive}, Worker concurrency ${CONCURRENCY}, prefetch ${SETTINGS.prefetch}, task log on (RdsTaskLogBroker, same database), node --expose-gc`,
      backlog,
      tasksPerSec: total / seconds,
      samples,
      rssGrowthPct: growth(samples, total, (s) => s.rssMiB),
      heapUsedGrowthPct: growth(samples, total, (s) => s.heapUsedMiB),
    };
  });
}

/** The samples as a table, then the growth and whether it is flat. */
export function formatWorkerMemoryReport(report: WorkerMemoryReport): string {
  const verdict = (pct: number) => `${pct >= 0 ? '+' : ''}${pct.toFixed(1)} % (${Math.abs(pct) <= FLAT_PCT ? 'flat' : `NOT flat: more than ${FLAT_PCT} %`})`;
  const lines = report.samples.map(
    (s) => `| ${s.tasks.toLocaleString('en-US').padStart(11)} | ${s.seconds.toFixed(0).padStart(7)} | ${s.rssMiB.toFixed(1).padStart(7)} | ${s.heapUsedMiB.toFixed(1).padStart(13)} |`,
  );
  return [
    `worker memory over ${report.tasks.toLocaleString('en-US')} tasks: PostgreSQL ${report.postgres} on ${report.server}; database ${report.database} (dropped)`,
    `${report.worker}; about ${report.backlog.toLocaleString('en-US')} tasks kept queued; ${Math.round(report.tasksPerSec).toLocaleString('en-US')} tasks/s`,
    '',
    '|       tasks | seconds | RSS MiB | heap used MiB |',
    '|------------:|--------:|--------:|--------------:|',
    ...lines,
    '',
    `from the sample at 10 % of the tasks to the end: RSS ${verdict(report.rssGrowthPct)}, heap used ${verdict(report.heapUsedGrowthPct)}`,
    `(samples after a full GC: ${report.samples.every((s) => s.afterGc) ? 'yes' : 'no'})`,
  ].join('\n');
}
