import { execFileSync } from 'node:child_process';

/**
 * Hosts simulated on this machine: one network namespace per host, each joined by a veth pair
 * to a bridge in the test's own namespace, on a private /24 of 10.213.x.0 no other interface
 * uses. A server listening on the bridge's address is reached from every host over its link,
 * and a host's link can be cut and restored. Nothing else on the machine is touched.
 */
export interface SimulatedHost {
  readonly name: string;
  readonly address: string;
  /** The command prefix that runs a program on this host. */
  readonly launcher: string[];
  /** Takes its link down (packets dropped both ways, connections stall) or up again. */
  cut(): void;
  restore(): void;
}

export interface SimulatedHosts {
  /** The address of the bridge, in the test's namespace: servers for the hosts listen on it. */
  readonly serverAddress: string;
  /** The hosts' network, as CIDR. */
  readonly network: string;
  readonly hosts: SimulatedHost[];
  destroy(): void;
}

const ip = (...args: string[]) => execFileSync('ip', args, { stdio: 'pipe' }).toString();

/** Why this machine cannot make them, or undefined when it can (root, iproute2, netns allowed). */
export function simulatedHostsProblem(): string | undefined {
  if (process.getuid?.() !== 0) return 'not root';
  const probe = `tq${process.pid}probe`.slice(0, 15);
  try {
    ip('netns', 'add', probe);
  } catch (error) {
    return `ip netns add failed: ${(error as Error).message.split('\n')[0]}`;
  }
  ip('netns', 'del', probe);
  return undefined;
}

/** A 10.213.x.0/24 that no interface of this namespace has an address in. */
function freeSubnet(): number {
  const used = ip('-o', '-4', 'addr', 'show');
  for (let i = 0; i < 250; i++) {
    const x = (process.pid + i) % 250;
    if (!used.includes(`10.213.${x}.`)) return x;
  }
  throw new Error('no free 10.213.x.0/24 subnet');
}

export function createSimulatedHosts(count: number): SimulatedHosts {
  // Interface names hold 15 characters: the pid keeps parallel runs apart.
  const prefix = `tq${process.pid}`;
  const bridge = `${prefix}br`;
  const subnet = freeSubnet();
  const serverAddress = `10.213.${subnet}.1`;
  const made: { namespaces: string[]; bridge: boolean } = { namespaces: [], bridge: false };
  const destroy = () => {
    for (const ns of made.namespaces) {
      try {
        ip('netns', 'del', ns);
      } catch {
        // Already gone.
      }
    }
    if (made.bridge) {
      try {
        ip('link', 'del', bridge);
      } catch {
        // Already gone.
      }
    }
  };
  try {
    ip('link', 'add', bridge, 'type', 'bridge');
    made.bridge = true;
    ip('addr', 'add', `${serverAddress}/24`, 'dev', bridge);
    ip('link', 'set', bridge, 'up');
    const hosts: SimulatedHost[] = [];
    for (let i = 1; i <= count; i++) {
      const ns = `${prefix}h${i}`;
      const outside = `${prefix}v${i}`;
      const inside = `${prefix}p${i}`;
      const address = `10.213.${subnet}.${10 + i}`;
      ip('netns', 'add', ns);
      made.namespaces.push(ns);
      ip('link', 'add', outside, 'type', 'veth', 'peer', 'name', inside, 'netns', ns);
      ip('link', 'set', outside, 'master', bridge);
      ip('link', 'set', outside, 'up');
      ip('-n', ns, 'addr', 'add', `${address}/24`, 'dev', inside);
      ip('-n', ns, 'link', 'set', inside, 'up');
      ip('-n', ns, 'link', 'set', 'lo', 'up');
      hosts.push({
        name: ns,
        address,
        launcher: ['ip', 'netns', 'exec', ns],
        cut: () => void ip('link', 'set', outside, 'down'),
        restore: () => void ip('link', 'set', outside, 'up'),
      });
    }
    return { serverAddress, network: `10.213.${subnet}.0/24`, hosts, destroy };
  } catch (error) {
    destroy();
    throw error;
  }
}
