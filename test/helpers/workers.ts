import { type QueueDispatcher, Worker, type WorkerOptions, silentLogger } from '../../src';

/** Workers as the suites run them: a few tasks at once, quick to notice new work and dead leases. */
export const TEST_WORKER_OPTIONS: WorkerOptions = { concurrency: 4, leaseMs: 5_000, idleMaxMs: 20, logger: silentLogger };

/**
 * Runs `body` while one worker runs on each of `dispatchers` (as workers in other processes
 * would, each with a dispatcher of its own), then stops them all, whether `body` threw or not.
 */
export async function whileWorkersRun<T>(dispatchers: readonly QueueDispatcher[], body: () => Promise<T>, options: WorkerOptions = {}): Promise<T> {
  const running = dispatchers.map((dispatcher) => {
    const worker = new Worker(dispatcher, { ...TEST_WORKER_OPTIONS, ...options });
    return { worker, done: worker.run() };
  });
  try {
    return await body();
  } finally {
    for (const { worker } of running) await worker.stop();
    await Promise.all(running.map(({ done }) => done));
  }
}
