/** What the PostgreSQL side-by-side benchmark returns: the run's settings and every measurement. */
import type { Percentiles } from '../common';
import type { PeerColumn, PeerVariant, SystemName } from './variants';

export type MeasureId = 'enqueue-one' | 'enqueue-bulk' | 'drain-1' | 'drain-4' | 'idle-latency';

export interface Measurement {
  measure: MeasureId;
  system: SystemName;
  /** The variant's id; for the enqueue measures, which no worker setting changes, the system's name. */
  variant: string;
  column: PeerColumn;
  /** Jobs measured (warm-up excluded). */
  jobs: number;
  /** Throughput measures: jobs per second. */
  jobsPerSec: number | null;
  /** idle-latency: enqueue call → start of the job's handler in the worker process, ms. */
  latency: Percentiles | null;
  /** Side figures and settings. */
  details: Record<string, string | number>;
}

export interface PeerCounts {
  /** enqueue-one: awaited single enqueues. */
  enqueueOne: number;
  /** enqueue-bulk: jobs, in calls of `bulkSize`. */
  enqueueBulk: number;
  bulkSize: number;
  /** drain-1 / drain-4: jobs queued before the workers start. */
  drain: number;
  /** idle-latency: warm-up jobs, then measured jobs. */
  latencyWarmup: number;
  latency: number;
  /** idle-latency: the gap between two enqueues, drawn uniformly from this range (ms). */
  latencyGapMs: [number, number];
}

export interface PeersReport {
  /** PostgreSQL server version. */
  postgres: string;
  /** Which server, in words: a throwaway one the bench started, TASKQ_BENCH_PG_URL's, or the machine's. */
  server: string;
  /** The throwaway database the run used (dropped at its end). */
  database: string;
  /**
   * Versions of the peers measured (taskq is this checkout: its commit heads the output): on Node
   * 22 or later the latest releases, on Node 20 the last ones that run there (peerPackages.ts).
   */
  peerVersions: Record<Exclude<SystemName, 'taskq'>, string>;
  /** Jobs at a time per worker process. */
  concurrency: number;
  counts: PeerCounts;
  variants: readonly PeerVariant[];
  measurements: Measurement[];
}

/** The same taskq measures on MariaDB (no peer there): `npm run bench -- --peers=mariadb`. */
export interface MariaDbReport {
  /** The server's version, e.g. "10.11.14-MariaDB-0+deb12u2". */
  mariadb: string;
  /** The throwaway database the run used (dropped at its end). */
  database: string;
  concurrency: number;
  counts: PeerCounts;
  /** taskq's variants. */
  variants: readonly PeerVariant[];
  measurements: Measurement[];
}

/** One sample of the worker process's memory in the worker-memory run. */
export interface MemorySample {
  /** Tasks the worker had completed when it took the sample. */
  tasks: number;
  /** Seconds since the worker started. */
  seconds: number;
  rssMiB: number;
  heapUsedMiB: number;
  /** Whether a full GC ran just before (the worker was started with --expose-gc). */
  afterGc: boolean;
}

/** A worker's memory over many tasks: `npm run bench -- --peers=worker-memory`. */
export interface WorkerMemoryReport {
  postgres: string;
  server: string;
  database: string;
  tasks: number;
  /** The worker's settings, in words. */
  worker: string;
  /** Jobs kept waiting in the queue while the worker runs (topped up in bulk calls). */
  backlog: number;
  tasksPerSec: number;
  samples: MemorySample[];
  /** End against the sample at 10 % of the tasks, in per cent; flat: within 5 %. */
  rssGrowthPct: number;
  heapUsedGrowthPct: number;
}
