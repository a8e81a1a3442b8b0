/**
 * Which releases of the peers the bench measures. Both pairs are dev dependencies (nothing is
 * installed at run time): graphile-worker 0.17.3 and pg-boss 10.4.2, the last releases that run
 * on Node 20, under their own names; graphile-worker 0.18 and pg-boss 12, which need Node 22,
 * under the npm aliases graphile-worker-latest and pg-boss-latest. On Node 22 or later the bench
 * measures the latest, which is what users compare with; on Node 20 the pinned older ones.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

export type PeerPackage = 'graphile-worker' | 'pg-boss';

/** The major version of the Node running the bench. */
export const NODE_MAJOR = Number(process.versions.node.split('.')[0]);

/** graphile-worker 0.18 (engines >= 22.18) and pg-boss 12 (>= 22.12) need Node 22. */
export const LATEST_PEERS = NODE_MAJOR >= 22;

/** The installed package (its name under node_modules) of each peer, for this Node. */
export const PEER_PACKAGES: Readonly<Record<PeerPackage, string>> = LATEST_PEERS
  ? { 'graphile-worker': 'graphile-worker-latest', 'pg-boss': 'pg-boss-latest' }
  : { 'graphile-worker': 'graphile-worker', 'pg-boss': 'pg-boss' };

/**
 * The version in an installed package's package.json, found along this module's node_modules
 * paths (graphile-worker 0.18's `exports` does not export its package.json to require()).
 */
export function installedVersion(packageName: string): string {
  for (const dir of module.paths) {
    const file = join(dir, packageName, 'package.json');
    if (existsSync(file)) return (JSON.parse(readFileSync(file, 'utf8')) as { version: string }).version;
  }
  throw new Error(`${packageName} is not installed (npm ci installs it: a dev dependency)`);
}

/** The versions measured, by peer. */
export function peerVersions(): Record<PeerPackage, string> {
  return { 'graphile-worker': installedVersion(PEER_PACKAGES['graphile-worker']), 'pg-boss': installedVersion(PEER_PACKAGES['pg-boss']) };
}
