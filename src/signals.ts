import type { Logger } from './logger';
import type { Worker } from './worker';

const STOP_SIGNALS = ['SIGTERM', 'SIGINT', 'SIGQUIT'] as const;

/**
 * TAO's worker signals: SIGTERM/SIGINT/SIGQUIT stop gracefully (running tasks finish, unstarted
 * ones go back to the queue); a second one exits at once, leaving running tasks to their leases.
 * SIGUSR2 pauses, SIGCONT resumes. A shell sends SIGCONT too when a job stopped with Ctrl-Z is
 * brought back with `fg` or `bg`: that resumes a worker paused with SIGUSR2 as well.
 * Returns a function that removes the handlers.
 */
export function installWorkerSignals(worker: Worker, logger: Logger, exit: (code: number) => void = (code) => process.exit(code)): () => void {
  let stopping = false;
  const onStop = (signal: NodeJS.Signals) => {
    if (stopping) {
      logger.warn(`${signal} again: exiting now; running tasks run again once their leases end`, { signal });
      exit(1);
      return;
    }
    stopping = true;
    logger.info(`${signal}: finishing running tasks, then stopping`, { signal });
    worker.stop().catch((error: unknown) => {
      logger.error(`${signal}: the worker could not stop cleanly: ${(error as Error).message}; exiting, running tasks run again once their leases end`, { signal });
      exit(1);
    });
  };
  const onPause = () => worker.pause();
  const onResume = () => worker.resume();
  for (const signal of STOP_SIGNALS) process.on(signal, onStop);
  process.on('SIGUSR2', onPause);
  process.on('SIGCONT', onResume);
  return () => {
    for (const signal of STOP_SIGNALS) process.off(signal, onStop);
    process.off('SIGUSR2', onPause);
    process.off('SIGCONT', onResume);
  };
}
