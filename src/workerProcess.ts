import { TaskFaultError } from './errors';
import type { LogFields, Logger } from './logger';
import { runningTask, traceRuns } from './runTracing';
import type { Worker } from './worker';

export interface WorkerProcessOptions {
  /**
   * On an uncaught exception or unhandled rejection: stop the worker gracefully (running tasks
   * finish), then exit 1 through `process.exitCode`, for a supervisor to restart it. Default
   * false: log the error and keep working.
   */
  exitOnUncaught?: boolean;
}

export interface WorkerProcessHandlers {
  /** Uncaught exceptions and unhandled rejections seen so far. */
  readonly faults: number;
  /**
   * Says that the worker's own code is about to exit the process (a second stop signal): that
   * exit is not taken for a task's `process.exit`.
   */
  allowExit(): void;
  /** Removes the handlers. */
  remove(): void;
}

type FaultKind = 'uncaught exception' | 'unhandled rejection';

/**
 * Process-level handlers for a process that runs a worker (`taskq run-worker` installs them; an
 * application running a Worker in its own process may too):
 *
 * - an uncaught exception or unhandled rejection (a task's timer callback that throws, a promise
 *   nobody awaits that rejects) no longer kills the process. It is traced back to the run whose
 *   async context it came from when Node kept that context (timers, I/O callbacks and promise
 *   rejections do): that run fails with a TaskFaultError (retried while attempts remain, like a
 *   thrown error) unless it had already ended. One structured error line is logged either way.
 *   Then the worker keeps working, or with `exitOnUncaught` stops gracefully and exits 1.
 * - a `process.exit()` that the worker did not ask for (a task called it) is logged, and an exit
 *   code of 0 becomes 1, so that a supervisor restarting on failure restarts the worker. The
 *   runs it cut short run again once their leases end.
 *
 * Returns the handlers, to remove them once the worker has stopped.
 */
export function installWorkerProcessHandlers(worker: Worker, logger: Logger, options: WorkerProcessOptions = {}): WorkerProcessHandlers {
  let faults = 0;
  let exitAllowed = false;
  let stopping = false;

  const log = (message: string, fields: LogFields) => {
    try {
      logger.error(message, fields);
    } catch {
      // A logger that fails here must not turn one fault into a crash.
      process.stderr.write(`${JSON.stringify({ level: 'error', msg: message, ...fields })}\n`);
    }
  };

  const onFault = (kind: FaultKind, error: unknown) => {
    faults++;
    const run = runningTask();
    const message = error instanceof Error ? error.message : String(error);
    const fields: LogFields = { fault: kind, error: message, stack: error instanceof Error ? error.stack : undefined, workerId: worker.id };
    let what = 'it could not be traced to a task';
    if (run) {
      Object.assign(fields, { taskId: run.taskId, taskName: run.taskName, attempt: run.attempt, queue: run.queue });
      const failed = run.fail(new TaskFaultError(`Task failed: ${kind} in its background code: ${message}`, error));
      what = failed ? `task ${run.taskName} ${run.taskId} fails` : `from task ${run.taskName} ${run.taskId}, whose run had already ended`;
    }
    const next = options.exitOnUncaught ? 'stopping the worker, then exiting 1' : 'the worker keeps working';
    log(`${kind}: ${message}; ${what}; ${next}`, fields);
    if (options.exitOnUncaught && !stopping) {
      stopping = true;
      process.exitCode = 1;
      worker.stop().catch((stopError: unknown) => {
        log(`the worker could not stop cleanly: ${(stopError as Error).message}; exiting`, { workerId: worker.id });
        exitAllowed = true;
        process.exit(1);
      });
    }
  };
  const onUncaught = (error: unknown) => onFault('uncaught exception', error);
  const onRejection = (reason: unknown) => onFault('unhandled rejection', reason);

  const onExit = (code: number) => {
    if (exitAllowed || worker.status === 'stopped' || worker.status === 'idle') return;
    const run = runningTask();
    const fields: LogFields = { exitCode: code || 1, calledWith: code, workerId: worker.id };
    if (run) Object.assign(fields, { taskId: run.taskId, taskName: run.taskName, attempt: run.attempt, queue: run.queue });
    const who = run ? `task ${run.taskName} ${run.taskId}` : 'a task';
    log(`${who} called process.exit(${code}) while the worker was running: exiting ${code || 1}; its running tasks run again once their leases end`, fields);
    if (!code) process.exitCode = 1;
  };

  const stopTracing = traceRuns();
  process.on('uncaughtException', onUncaught);
  process.on('unhandledRejection', onRejection);
  process.on('exit', onExit);
  return {
    get faults() {
      return faults;
    },
    allowExit() {
      exitAllowed = true;
    },
    remove() {
      stopTracing();
      process.off('uncaughtException', onUncaught);
      process.off('unhandledRejection', onRejection);
      process.off('exit', onExit);
    },
  };
}
