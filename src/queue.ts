import { ConfigError } from './errors';
import type { QueueBroker } from './queueBroker';
import { assertValidName } from './taskRegistry';

/** A named queue on a broker. Its weight is its share when a worker consumes every queue. */
export class Queue {
  constructor(
    readonly name: string,
    readonly broker: QueueBroker,
    readonly weight: number = 1,
  ) {
    assertValidName('queue', name);
    if (!Number.isFinite(weight) || weight < 0) throw new ConfigError(`Queue "${name}": weight must be a number >= 0, got ${weight}`);
  }

  isSync(): boolean {
    return this.broker.isSync;
  }

  initialize(): Promise<void> {
    return this.broker.createContainer(this.name);
  }

  count(): Promise<number> {
    return this.broker.count(this.name);
  }

  purge(): Promise<number> {
    return this.broker.purge(this.name);
  }
}
