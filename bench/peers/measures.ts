/**
 * The four measures of the PostgreSQL side-by-side benchmark, each run the same way for every
 * system through the Peer interface. Each starts from an empty queue (Peer.reset).
 */
import { LatencyRecorder, now, percentiles, sleep, yieldToLoop } from '../common';
import type { BenchDatabase, JobPayload, Peer, SqlRunner } from './peer';
import type { Measurement, PeerCounts } from './report';
import { WorkerProcessGroup } from './workerProcessGroup';
import { CONCURRENCY, type PeerVariant, type SystemName, mainColumn, variantsOf } from './variants';

export interface MeasureContext {
  /** The throwaway database (PostgreSQL or MariaDB). */
  db: BenchDatabase;
  counts: PeerCounts;
  /** Progress lines, on stderr. */
  progress(message: string): void;
  /** Extra node flags for the worker processes (--cpu-prof). */
  workerExecArgv: string[];
}

/** Worker processes of the two drain measures. */
const DRAIN_PROCESSES = [1, 4];

/** After the last job ran: how often the system's tables are read until they show every job completed. */
const COMPLETION_POLL_MS = 5;
/** …and for how long at most. */
const COMPLETION_TIMEOUT_MS = 60_000;
/** How long an idle worker process runs before the first enqueue: its LISTEN and first polls are under way. */
const IDLE_SETTLE_MS = 500;
/** The seed of the idle-latency gaps: any fixed number, so every system and every run gets the same ones. */
const GAP_SEED = 2050;

const round3 = (n: number) => Math.round(n * 1000) / 1000;

function payloads(count: number): JobPayload[] {
  return Array.from({ length: count }, () => ({ t: now(), w: 1 }));
}

async function enqueueInBulk(peer: Peer, jobs: number, bulkSize: number): Promise<void> {
  for (let i = 0; i < jobs; i += bulkSize) await peer.enqueueBulk(payloads(Math.min(bulkSize, jobs - i)));
}

/**
 * 1. One awaited enqueue call per job, one after the other, into an empty queue (after a
 * warm-up, then a reset): jobs/s, and the call time's percentiles as side figures.
 */
export async function measureEnqueueOne(peer: Peer, system: SystemName, ctx: MeasureContext): Promise<Measurement> {
  const n = ctx.counts.enqueueOne;
  const warm = Math.max(20, Math.round(n / 10));
  ctx.progress(`${system}: enqueue one at a time: ${n} (after ${warm} warm-up)`);
  await peer.reset(ctx.db);
  for (let i = 0; i < warm; i++) await peer.enqueueOne({ t: now(), w: 1 });
  await peer.reset(ctx.db);
  const calls = new LatencyRecorder();
  await yieldToLoop();
  const start = now();
  for (let i = 0; i < n; i++) {
    const t = now();
    await peer.enqueueOne({ t, w: 1 });
    calls.add(now() - t);
  }
  const ms = now() - start;
  const call = percentiles(calls.values());
  return {
    measure: 'enqueue-one',
    system,
    variant: system,
    column: mainColumn(system),
    jobs: n,
    jobsPerSec: (n / ms) * 1000,
    latency: null,
    details: { warmup: warm, callP50Ms: round3(call?.p50 ?? 0), callP99Ms: round3(call?.p99 ?? 0) },
  };
}

/** 2. Bulk calls of `bulkSize` jobs, one after the other, into an empty queue (after a warm-up, then a reset). */
export async function measureEnqueueBulk(peer: Peer, system: SystemName, ctx: MeasureContext): Promise<Measurement> {
  const { enqueueBulk: n, bulkSize } = ctx.counts;
  const warm = Math.max(bulkSize, Math.round(n / 4 / bulkSize) * bulkSize);
  ctx.progress(`${system}: enqueue in bulk calls of ${bulkSize}: ${n} (after ${warm} warm-up)`);
  await peer.reset(ctx.db);
  await enqueueInBulk(peer, warm, bulkSize);
  await peer.reset(ctx.db);
  // Payloads built before the clock starts: the figure is the calls'.
  const batches: JobPayload[][] = [];
  for (let i = 0; i < n; i += bulkSize) batches.push(payloads(Math.min(bulkSize, n - i)));
  await yieldToLoop();
  const start = now();
  for (const batch of batches) await peer.enqueueBulk(batch);
  const ms = now() - start;
  return {
    measure: 'enqueue-bulk',
    system,
    variant: system,
    column: mainColumn(system),
    jobs: n,
    jobsPerSec: (n / ms) * 1000,
    latency: null,
    details: { warmup: warm, bulkSize, calls: batches.length },
  };
}

/**
 * Reads the system's tables until they show all `n` jobs completed (nothing queued, locked or
 * unacknowledged is left); returns now() taken before the read that saw it.
 */
async function untilCompleted(peer: Peer, sql: SqlRunner, n: number, what: string): Promise<number> {
  const deadline = now() + COMPLETION_TIMEOUT_MS;
  for (;;) {
    const at = now();
    const tally = await peer.tally(sql);
    if (tally.unfinished === 0 && (tally.completed === null || tally.completed === n)) return at;
    if (now() > deadline) throw new Error(`${what}: every job ran, but ${COMPLETION_TIMEOUT_MS / 1000} s later the tables show ${tally.completed ?? '(not kept)'} completed, ${tally.unfinished} unfinished`);
    await sleep(COMPLETION_POLL_MS);
  }
}

/**
 * 3. Drain: N jobs queued (bulk calls), the database settled (PostgreSQL: ANALYZE and a
 * CHECKPOINT; MariaDB: ANALYZE TABLE), so neither lands in one system's run and not another's, then `processes` worker processes, connected and
 * waiting, are told to start together. Timed from that message until the system's own tables
 * show every job completed: once the workers have reported that every job's handler ran (they
 * report every PROGRESS_MS), this process reads the tables every COMPLETION_POLL_MS, so the end
 * is late by at most about PROGRESS_MS + COMPLETION_POLL_MS. (A system that batches or defers its
 * completion writes is timed to their end, not to its last handler.) Then the workers stop
 * gracefully, and no job may have run twice.
 */
export async function measureDrain(peer: Peer, variant: PeerVariant, processes: number, ctx: MeasureContext): Promise<Measurement> {
  const { drain: n, bulkSize } = ctx.counts;
  const system = variant.settings.system;
  ctx.progress(`${variant.id}: drain ${n} with ${processes} worker process(es) × ${CONCURRENCY}`);
  await peer.reset(ctx.db);
  await enqueueInBulk(peer, n, bulkSize);
  const queued = await peer.tally(ctx.db);
  if (queued.unfinished !== n || (queued.completed ?? 0) !== 0) throw new Error(`${variant.id} drain: ${queued.unfinished} jobs queued, ${queued.completed} completed, before the start; expected ${n} and 0`);
  await ctx.db.settle();
  const group = await WorkerProcessGroup.fork({ url: ctx.db.url, variant, concurrency: CONCURRENCY, recordLatency: false }, processes, ctx.workerExecArgv);
  let ms: number;
  let lastRanMs: number;
  let perProcess: number[];
  try {
    const start = group.start();
    await group.untilRan(n);
    lastRanMs = group.lastRanAt() - start;
    ms = (await untilCompleted(peer, ctx.db, n, `${variant.id} drain`)) - start;
    const stopped = await group.stop();
    perProcess = stopped.map((s) => s.ran);
  } finally {
    group.kill();
  }
  const ran = perProcess.reduce((a, b) => a + b, 0);
  const tally = await peer.tally(ctx.db);
  if (ran !== n || tally.unfinished !== 0 || (tally.completed !== null && tally.completed !== n)) {
    throw new Error(`${variant.id} drain: ${ran} job runs for ${n} jobs; the tables show ${tally.completed ?? '(not kept)'} completed, ${tally.unfinished} unfinished`);
  }
  ctx.progress(`${variant.id}: drain with ${processes} process(es): ${Math.round((n / ms) * 1000)} jobs/s`);
  return {
    measure: processes === 1 ? 'drain-1' : 'drain-4',
    system,
    variant: variant.id,
    column: variant.column,
    jobs: n,
    jobsPerSec: (n / ms) * 1000,
    latency: null,
    details: { processes, concurrency: CONCURRENCY, ms: Math.round(ms), lastJobStartedMs: Math.round(lastRanMs), perProcess: perProcess.join('/') },
  };
}

/** Uniform numbers in [0, 1) from a fixed seed (mulberry32): every system gets the same gaps. */
function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * 4. Idle latency: one worker process (concurrency 10) waits on an empty queue; this process
 * enqueues one job at a time, a random 20–50 ms apart (start to start, the same sequence for
 * every system). Latency: now() at the start of the job's handler in the worker minus now()
 * just before the enqueue call (one clock for both processes); warm-up jobs not counted.
 */
export async function measureIdleLatency(peer: Peer, variant: PeerVariant, ctx: MeasureContext): Promise<Measurement> {
  const { latencyWarmup: warm, latency: n, latencyGapMs: [minGap, maxGap] } = ctx.counts;
  ctx.progress(`${variant.id}: idle latency, ${n} jobs (after ${warm} warm-up) ${minGap}–${maxGap} ms apart`);
  await peer.reset(ctx.db);
  const group = await WorkerProcessGroup.fork({ url: ctx.db.url, variant, concurrency: CONCURRENCY, recordLatency: true }, 1, ctx.workerExecArgv);
  let latencies: number[];
  try {
    group.start();
    await group.untilStarted();
    await sleep(IDLE_SETTLE_MS);
    const random = seededRandom(GAP_SEED);
    let next = now();
    for (let i = 0; i < warm + n; i++) {
      const wait = next - now();
      if (wait > 0) await sleep(wait);
      next = now() + minGap + random() * (maxGap - minGap);
      const t = now();
      await peer.enqueueOne(i < warm ? { t, w: 1 } : { t });
    }
    await group.untilRan(warm + n);
    const [stopped] = await group.stop();
    latencies = stopped.latencies;
  } finally {
    group.kill();
  }
  if (latencies.length !== n) throw new Error(`${variant.id} idle latency: ${latencies.length} latencies for ${n} jobs`);
  const latency = percentiles(Float64Array.from(latencies));
  ctx.progress(`${variant.id}: idle latency p50 ${latency?.p50.toFixed(1)} ms, p99 ${latency?.p99.toFixed(1)} ms`);
  return {
    measure: 'idle-latency',
    system: variant.settings.system,
    variant: variant.id,
    column: variant.column,
    jobs: n,
    jobsPerSec: null,
    latency,
    details: { warmup: warm, gapMs: `${minGap}-${maxGap}`, concurrency: CONCURRENCY },
  };
}

/**
 * Every measure of one system on `ctx.db`, in table order: enqueue one at a time, in bulk, the
 * drains with 1 and 4 worker processes for each of its variants, the idle latency of each. Installs
 * the system's tables first (not timed).
 */
export async function measureSystem(peer: Peer, system: SystemName, ctx: MeasureContext): Promise<Measurement[]> {
  const variants = variantsOf(system);
  const measurements: Measurement[] = [];
  await peer.install(ctx.db);
  measurements.push(await measureEnqueueOne(peer, system, ctx));
  measurements.push(await measureEnqueueBulk(peer, system, ctx));
  for (const processes of DRAIN_PROCESSES) {
    for (const variant of variants) measurements.push(await measureDrain(peer, variant, processes, ctx));
  }
  for (const variant of variants) measurements.push(await measureIdleLatency(peer, variant, ctx));
  return measurements;
}
