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
  /** The throwaway database the run used (dropped at its end). */
  database: string;
  /** Installed versions of the peers (taskq is this checkout: its commit heads the output). */
  peerVersions: Record<Exclude<SystemName, 'taskq'>, string>;
  /** Jobs at a time per worker process. */
  concurrency: number;
  counts: PeerCounts;
  variants: readonly PeerVariant[];
  measurements: Measurement[];
}
