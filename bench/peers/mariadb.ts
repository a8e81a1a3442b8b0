/**
 * `npm run bench -- --peers=mariadb`: the side-by-side measures of taskq alone on MariaDB (neither
 * graphile-worker nor pg-boss runs there), in a throwaway database on the server
 * TASKQ_BENCH_MYSQL_URL names (default mysql://root@127.0.0.1:3306), dropped at the end.
 */
import { mask } from '../../brokers/rds/connection';
import { createPeer } from './createPeer';
import { withCleanup } from './interrupt';
import { type MeasureContext, measureSystem } from './measures';
import { ThrowawayMysqlDatabase } from './mysqlDatabase';
import { type PeersOptions, peerCounts } from './peers';
import type { MariaDbReport } from './report';
import { CONCURRENCY, variantsOf } from './variants';

export const DEFAULT_MYSQL_URL = 'mysql://root@127.0.0.1:3306';

export async function mariadbScenario(options: PeersOptions): Promise<MariaDbReport> {
  const serverUrl = process.env.TASKQ_BENCH_MYSQL_URL || DEFAULT_MYSQL_URL;
  const db = await ThrowawayMysqlDatabase.create(serverUrl);
  options.progress(`mariadb: database ${db.name} on ${mask(serverUrl)}`);
  return withCleanup(`database ${db.name}`, () => db.drop(), async () => {
    const ctx: MeasureContext = { db, counts: peerCounts(options), progress: options.progress, workerExecArgv: options.workerExecArgv };
    const variants = variantsOf('taskq');
    const peer = await createPeer(db.url, variants[0].settings);
    try {
      const measurements = await measureSystem(peer, 'taskq', ctx);
      return { mariadb: await db.serverVersion(), database: db.name, concurrency: CONCURRENCY, counts: ctx.counts, variants, measurements };
    } finally {
      await peer.close();
    }
  });
}
