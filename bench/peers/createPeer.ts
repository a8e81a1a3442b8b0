import { loadGraphileWorker } from './graphileWorkerBinding';
import { GraphileWorkerPeer } from './graphileWorkerPeer';
import type { Peer } from './peer';
import { LATEST_PEERS } from './peerPackages';
import { PgBoss12Peer } from './pgBoss12Peer';
import { TaskqPeer } from './taskqPeer';
import type { PeerSettings } from './variants';

/**
 * The peer of a variant's system, on the database at `url`; for graphile-worker and pg-boss, the
 * release this Node measures (peerPackages.ts), loaded only here.
 */
export async function createPeer(url: string, settings: PeerSettings): Promise<Peer> {
  switch (settings.system) {
    case 'taskq':
      return new TaskqPeer(url, settings);
    case 'graphile-worker':
      return new GraphileWorkerPeer(await loadGraphileWorker(), url, settings);
    case 'pg-boss':
      if (LATEST_PEERS) return new PgBoss12Peer(url, settings);
      // pg-boss 10 is loaded with its adapter, so a Node that measures pg-boss 12 does not load it.
      return new (require('./pgBossPeer') as typeof import('./pgBossPeer')).PgBossPeer(url, settings);
  }
}
