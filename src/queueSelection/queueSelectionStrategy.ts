import type { Queue } from '../queue';

/** Decides in which order a worker that consumes every queue tries them. */
export interface QueueSelectionStrategy {
  /** Every queue of `queues` exactly once, the one to try first first. */
  order(queues: readonly Queue[]): Queue[];
}
