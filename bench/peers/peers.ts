/**
 * `npm run bench -- --peers[=postgres,mariadb,worker-memory] [--scale=X] [--json]`: taskq,
 * graphile-worker and pg-boss side by side on one PostgreSQL server, in one run, with the same job
 * counts and concurrency (on Node 22 or later the peers' latest releases, graphile-worker 0.18 and
 * pg-boss 12; on Node 20 graphile-worker 0.17.3 and pg-boss 10.4.2). See docs/benchmarks.md,
 * "PostgreSQL side by side (`--peers`)".
 */
import { type ScenarioOptions, scaled } from '../common';
import { createPeer } from './createPeer';
import { withCleanup } from './interrupt';
import { type MeasureContext, measureSystem } from './measures';
import { peerVersions } from './peerPackages';
import { PgTarget } from './pgTarget';
import type { Measurement, PeerCounts, PeersReport } from './report';
import { CONCURRENCY, SYSTEMS, VARIANTS, variantsOf } from './variants';

export interface PeersOptions extends ScenarioOptions {
  /** Extra node flags for the worker processes (--cpu-prof). */
  workerExecArgv: string[];
}

const BULK_SIZE = 1000;

/** The job counts of every measure, for the PostgreSQL and the MariaDB tables alike. */
export function peerCounts(options: ScenarioOptions): PeerCounts {
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

/**
 * Runs every measure for each system in turn (taskq, graphile-worker, pg-boss) in a throwaway
 * database (PgTarget: on a throwaway server unless TASKQ_BENCH_PG_URL names one), dropped at the
 * end, on failure and on SIGINT/SIGTERM too.
 */
export async function peersScenario(options: PeersOptions): Promise<PeersReport> {
  const versions = peerVersions();
  options.progress(`peers: Node ${process.versions.node}: graphile-worker ${versions['graphile-worker']}, pg-boss ${versions['pg-boss']}`);
  const target = await PgTarget.open(options.progress);
  const { db } = target;
  options.progress(`peers: database ${db.name}`);
  return withCleanup(`database ${db.name}`, () => target.close(), async () => {
    const ctx: MeasureContext = { db, counts: peerCounts(options), progress: options.progress, workerExecArgv: options.workerExecArgv };
    const measurements: Measurement[] = [];
    for (const system of SYSTEMS) {
      // The producer: no worker setting changes how a system enqueues.
      const peer = await createPeer(db.url, variantsOf(system)[0].settings);
      try {
        measurements.push(...(await measureSystem(peer, system, ctx)));
      } finally {
        await peer.close();
      }
    }
    return {
      postgres: await db.serverVersion(),
      server: target.server,
      database: db.name,
      peerVersions: versions,
      concurrency: CONCURRENCY,
      counts: ctx.counts,
      variants: VARIANTS,
      measurements,
    };
  });
}
