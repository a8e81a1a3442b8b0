/**
 * `npm run bench -- --peers [--scale=X] [--json]`: taskq, graphile-worker 0.17 and pg-boss 10
 * side by side on one PostgreSQL server, in one run, with the same job counts and concurrency.
 * See docs/benchmarks.md, "PostgreSQL side by side (`--peers`)".
 */
import { mask } from '../../brokers/rds/connection';
import { type ScenarioOptions, scaled } from '../common';
import { createPeer } from './createPeer';
import { type MeasureContext, measureDrain, measureEnqueueBulk, measureEnqueueOne, measureIdleLatency } from './measures';
import { ThrowawayDatabase } from './pgDatabase';
import type { Measurement, PeerCounts, PeersReport } from './report';
import { CONCURRENCY, SYSTEMS, VARIANTS, variantsOf } from './variants';

export interface PeersOptions extends ScenarioOptions {
  /** Extra node flags for the worker processes (--cpu-prof). */
  workerExecArgv: string[];
}

/** The server when TASKQ_BENCH_PG_URL is not set. The bench makes a database of its own there. */
export const DEFAULT_PG_URL = 'postgres://postgres@127.0.0.1:5432/postgres';

/** Worker processes of the two drain measures. */
const DRAIN_PROCESSES = [1, 4];
const BULK_SIZE = 1000;

function counts(options: ScenarioOptions): PeerCounts {
  return {
    enqueueOne: scaled(2_000, options),
    // Whole bulk calls, at least one.
    enqueueBulk: Math.max(1, Math.round(scaled(20_000, options) / BULK_SIZE)) * BULK_SIZE,
    bulkSize: BULK_SIZE,
    drain: scaled(20_000, options),
    latencyWarmup: scaled(20, options, 5),
    latency: scaled(300, options, 50),
    latencyGapMs: [20, 50],
  };
}

function packageVersion(name: string): string {
  return (require(`${name}/package.json`) as { version: string }).version;
}

/**
 * Runs every measure for each system in turn (taskq, graphile-worker, pg-boss) in a throwaway
 * database, which it drops at the end, on failure and on SIGINT/SIGTERM too.
 */
export async function peersScenario(options: PeersOptions): Promise<PeersReport> {
  const serverUrl = process.env.TASKQ_BENCH_PG_URL || DEFAULT_PG_URL;
  const db = await ThrowawayDatabase.create(serverUrl);
  options.progress(`peers: database ${db.name} on ${mask(serverUrl)}`);
  // Interrupted: drop the database before going (the forced drop ends the workers' connections;
  // the worker processes exit when this process does).
  const interrupted = (signal: NodeJS.Signals) => {
    console.error(`peers: ${signal}: dropping ${db.name}`);
    db.drop().then(
      () => process.exit(130),
      (error: unknown) => {
        console.error(`peers: could not drop ${db.name}: ${(error as Error).message}`);
        process.exit(130);
      },
    );
  };
  process.once('SIGINT', interrupted);
  process.once('SIGTERM', interrupted);
  try {
    const ctx: MeasureContext = { url: db.url, sql: db, counts: counts(options), progress: options.progress, workerExecArgv: options.workerExecArgv };
    const measurements: Measurement[] = [];
    for (const system of SYSTEMS) {
      const variants = variantsOf(system);
      // The producer: no worker setting changes how a system enqueues.
      const peer = createPeer(db.url, variants[0].settings);
      try {
        await peer.install(db);
        measurements.push(await measureEnqueueOne(peer, system, ctx));
        measurements.push(await measureEnqueueBulk(peer, system, ctx));
        for (const processes of DRAIN_PROCESSES) {
          for (const variant of variants) measurements.push(await measureDrain(peer, variant, processes, ctx));
        }
        for (const variant of variants) measurements.push(await measureIdleLatency(peer, variant, ctx));
      } finally {
        await peer.close();
      }
    }
    return {
      postgres: await db.serverVersion(),
      database: db.name,
      peerVersions: { 'graphile-worker': packageVersion('graphile-worker'), 'pg-boss': packageVersion('pg-boss') },
      concurrency: CONCURRENCY,
      counts: ctx.counts,
      variants: VARIANTS,
      measurements,
    };
  } finally {
    process.off('SIGINT', interrupted);
    process.off('SIGTERM', interrupted);
    await db.drop();
    options.progress(`peers: dropped ${db.name}`);
  }
}
