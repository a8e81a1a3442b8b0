import { ConfigError } from './errors';
import type { QueueBroker } from './queueBroker';
import { type RateLimit, checkRateLimit } from './taskLimits';
import { assertValidName } from './taskRegistry';

export interface QueueOptions {
  /** Its share when a worker consumes every queue (default 1). */
  weight?: number;
  /**
   * At most `max` of its tasks start in any `perMs` window, counted across every worker sharing
   * the task log; tasks over it wait (they are not failed).
   */
  rateLimit?: RateLimit;
}

/** A named queue on a broker. Its weight is its share when a worker consumes every queue. */
export class Queue {
  readonly weight: number;
  readonly rateLimit: RateLimit | undefined;

  /** `options`: a weight, or QueueOptions. */
  constructor(
    readonly name: string,
    readonly broker: QueueBroker,
    options: number | QueueOptions = 1,
  ) {
    assertValidName('queue', name);
    const { weight = 1, rateLimit } = typeof options === 'number' ? { weight: options } : options;
    if (typeof weight !== 'number' || !Number.isFinite(weight) || weight < 0) throw new ConfigError(`Queue "${name}": weight must be a number >= 0, got ${weight}`);
    this.weight = weight;
    this.rateLimit = rateLimit === undefined ? undefined : checkRateLimit(rateLimit, `Queue "${name}": rateLimit`);
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
