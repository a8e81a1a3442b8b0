import { GraphileWorkerPeer } from './graphileWorkerPeer';
import type { Peer } from './peer';
import { PgBossPeer } from './pgBossPeer';
import { TaskqPeer } from './taskqPeer';
import type { PeerSettings } from './variants';

/** The peer of a variant's system, on the database at `url`. */
export function createPeer(url: string, settings: PeerSettings): Peer {
  switch (settings.system) {
    case 'taskq':
      return new TaskqPeer(url, settings);
    case 'graphile-worker':
      return new GraphileWorkerPeer(url, settings);
    case 'pg-boss':
      return new PgBossPeer(url, settings);
  }
}
