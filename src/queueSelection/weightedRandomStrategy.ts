import type { Queue } from '../queue';
import type { QueueSelectionStrategy } from './queueSelectionStrategy';

/**
 * TAO's WeightStrategy: a queue of weight 2 is tried first twice as often as one of weight 1.
 * The rest follow in weighted order too, so an empty heavy queue never starves a light one.
 * Zero weights are tried last; when every weight is zero the order is uniformly random.
 */
export class WeightedRandomStrategy implements QueueSelectionStrategy {
  constructor(private readonly random: () => number = Math.random) {}

  order(queues: readonly Queue[]): Queue[] {
    const weighted = queues.filter((q) => q.weight > 0);
    const unweighted = queues.filter((q) => q.weight <= 0);
    const result: Queue[] = [];
    const pool = [...weighted];
    while (pool.length > 0) {
      const total = pool.reduce((sum, q) => sum + q.weight, 0);
      let pick = this.random() * total;
      let index = pool.length - 1;
      for (let i = 0; i < pool.length; i++) {
        pick -= pool[i].weight;
        if (pick < 0) {
          index = i;
          break;
        }
      }
      result.push(pool.splice(index, 1)[0]);
    }
    const rest = [...unweighted];
    while (rest.length > 0) result.push(rest.splice(Math.floor(this.random() * rest.length), 1)[0]);
    return result;
  }
}
