/**
 * The few calls the bench makes of graphile-worker, bound to the release this Node measures
 * (peerPackages.ts): 0.17.3 (CommonJS, loaded with require) or 0.18 (ESM only, loaded with
 * import()). Their APIs agree on everything the bench uses; each binding is type-checked against
 * its own release's types.
 */
import type { Pool } from 'pg';
import type * as GraphileWorker18 from 'graphile-worker-latest' with { 'resolution-mode': 'import' };
import { LATEST_PEERS } from './peerPackages';

/** What the bench asks of graphile-worker's WorkerUtils. */
export interface GraphileWorkerUtils {
  migrate(): Promise<void>;
  addJob(identifier: string, payload: unknown): Promise<unknown>;
  addJobs(specs: { identifier: string; payload: unknown }[]): Promise<unknown>;
  release(): Promise<void> | void;
}

export interface GraphileWorkerRunSettings {
  pgPool: Pool;
  schema: string;
  concurrency: number;
  pollInterval: number;
  /** One task: identifier → handler. */
  taskList: Record<string, (payload: unknown) => void>;
  /** preset.worker.localQueue.size, with completeJobBatchDelay and failJobBatchDelay 0; null: off. */
  localQueueSize: number | null;
}

export interface GraphileWorkerBinding {
  makeWorkerUtils(connectionString: string, schema: string): Promise<GraphileWorkerUtils>;
  run(settings: GraphileWorkerRunSettings): Promise<{ stop(): Promise<void> }>;
}

/**
 * Warnings and errors on stderr, nothing else: graphile-worker's default logger writes a line per
 * completed job (taskq's workers run with silentLogger, pg-boss logs nothing). The worker
 * processes also run with NO_LOG_SUCCESS=1, which skips building that line.
 */
const quietLogFactory = () => (level: string, message: string) => {
  if (level === 'error' || level === 'warning') console.error(`graphile-worker ${level}: ${message}`);
};

type GraphileWorker17 = typeof import('graphile-worker');

function bind17(gw: GraphileWorker17): GraphileWorkerBinding {
  const logger = new gw.Logger(quietLogFactory);
  return {
    makeWorkerUtils: (connectionString, schema) => gw.makeWorkerUtils({ connectionString, schema, logger }),
    run: ({ localQueueSize, ...settings }) =>
      gw.run({
        ...settings,
        logger,
        noHandleSignals: true,
        ...(localQueueSize === null ? {} : { preset: { worker: { localQueue: { size: localQueueSize }, completeJobBatchDelay: 0, failJobBatchDelay: 0 } } }),
      }),
  };
}

function bind18(gw: typeof GraphileWorker18): GraphileWorkerBinding {
  const logger = new gw.Logger(quietLogFactory);
  return {
    makeWorkerUtils: (connectionString, schema) => gw.makeWorkerUtils({ connectionString, schema, logger }),
    run: ({ localQueueSize, ...settings }) =>
      gw.run({
        ...settings,
        logger,
        noHandleSignals: true,
        ...(localQueueSize === null ? {} : { preset: { worker: { localQueue: { size: localQueueSize }, completeJobBatchDelay: 0, failJobBatchDelay: 0 } } }),
      }),
  };
}

/** Loads the graphile-worker release this Node measures. */
export async function loadGraphileWorker(): Promise<GraphileWorkerBinding> {
  if (LATEST_PEERS) return bind18(await import('graphile-worker-latest'));
  return bind17(require('graphile-worker') as GraphileWorker17);
}
