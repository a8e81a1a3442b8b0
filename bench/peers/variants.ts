/**
 * The systems and settings the PostgreSQL side-by-side benchmark compares. Every variant runs
 * CONCURRENCY jobs at a time per worker process; what else each one sets is its own documented
 * way of going fast, chosen so that no system is held back by a default meant for other loads.
 */
import { LATEST_PEERS } from './peerPackages';

/** Jobs at a time per worker process, for every system. */
export const CONCURRENCY = 10;

/** The one queue (taskq queue, graphile-worker task identifier, pg-boss queue) of the bench. */
export const QUEUE = 'peers_noop';

export type SystemName = 'taskq' | 'graphile-worker' | 'pg-boss';

export interface TaskqSettings {
  system: 'taskq';
  /** RdsQueueBroker `receive`: messages claimed per query. */
  receive: number;
  /** Worker `prefetch`: messages held beyond the free slots. */
  prefetch: number;
  /** Worker `claimAhead`: a receive's tasks claimed in the log when their messages come; the Worker's default when absent (on without prefetch). */
  claimAhead?: boolean;
}

export interface GraphileWorkerSettings {
  system: 'graphile-worker';
  /** preset.worker.localQueue.size, with completeJobBatchDelay and failJobBatchDelay 0; null: off (the default). */
  localQueueSize: number | null;
}

export interface PgBossSettings {
  system: 'pg-boss';
  /** Jobs each work() loop fetches at a time. */
  batchSize: number;
  /**
   * How long a work() loop waits after each fetch; 0.5 s is pg-boss's minimum. pg-boss 10 waits
   * even when the fetch found jobs; pg-boss 12 (burstWhenBatchFull) not after a full batch, and a
   * NOTIFY wakes it.
   */
  pollingIntervalSeconds: number;
}

export type PeerSettings = TaskqSettings | GraphileWorkerSettings | PgBossSettings;

/** A column of the results table: graphile-worker's local queue gets its own. */
export type PeerColumn = 'taskq' | 'graphile-worker' | 'graphile-worker (local queue)' | 'pg-boss';

export interface PeerVariant {
  /** Short name, in the table and the JSON. */
  id: string;
  column: PeerColumn;
  /** The settings, in words. */
  label: string;
  settings: PeerSettings;
}

export const VARIANTS: readonly PeerVariant[] = [
  { id: 'taskq r10', column: 'taskq', label: 'RdsQueueBroker receive 10, Worker concurrency 10, prefetch 0 (so claimAhead, the default without prefetch)', settings: { system: 'taskq', receive: 10, prefetch: 0 } },
  { id: 'taskq r50', column: 'taskq', label: 'RdsQueueBroker receive 50, Worker concurrency 10, prefetch 40 (claimAhead off, the default with prefetch)', settings: { system: 'taskq', receive: 50, prefetch: 40 } },
  {
    id: 'taskq r500a',
    column: 'taskq',
    label: 'RdsQueueBroker receive 500, Worker concurrency 10, prefetch 490, claimAhead (as graphile-worker\'s local queue of 500)',
    settings: { system: 'taskq', receive: 500, prefetch: 490, claimAhead: true },
  },
  { id: 'graphile-worker', column: 'graphile-worker', label: 'run() concurrency 10, maxPoolSize 12, pollInterval 1000 ms', settings: { system: 'graphile-worker', localQueueSize: null } },
  {
    id: 'graphile-worker lq',
    column: 'graphile-worker (local queue)',
    label: 'as graphile-worker, plus preset.worker localQueue.size 500, completeJobBatchDelay 0, failJobBatchDelay 0',
    settings: { system: 'graphile-worker', localQueueSize: 500 },
  },
  {
    id: 'pg-boss',
    column: 'pg-boss',
    label: LATEST_PEERS
      ? 'one work() per process with localConcurrency 10, batchSize 10, pollingIntervalSeconds 0.5, burstWhenBatchFull; useListenNotify, queue notify: true; pool max 12'
      : '10 work() loops per process, batchSize 10, pollingIntervalSeconds 0.5, pool max 12',
    settings: { system: 'pg-boss', batchSize: 10, pollingIntervalSeconds: 0.5 },
  },
];

export const SYSTEMS: readonly SystemName[] = ['taskq', 'graphile-worker', 'pg-boss'];

/** The variants of one system, in table order. */
export function variantsOf(system: SystemName): PeerVariant[] {
  return VARIANTS.filter((v) => v.settings.system === system);
}

/** The column of a system's measures that no worker setting changes (enqueue). */
export function mainColumn(system: SystemName): PeerColumn {
  return system;
}
