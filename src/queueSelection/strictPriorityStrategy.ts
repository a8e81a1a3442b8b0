import type { Queue } from '../queue';
import type { QueueSelectionStrategy } from './queueSelectionStrategy';

/** Always the heaviest queue first: a lighter queue is consumed only while heavier ones are empty. */
export class StrictPriorityStrategy implements QueueSelectionStrategy {
  order(queues: readonly Queue[]): Queue[] {
    return [...queues].sort((a, b) => b.weight - a.weight);
  }
}
