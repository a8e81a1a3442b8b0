import { type Command, InvalidArgumentError } from 'commander';
import { parseDuration } from '../../src/duration';
import { ConfigError, TaskqError } from '../../src/errors';
import { printLine } from '../output';
import { isProcessAlive, readPidfile, removePidfileOf } from '../pidfile';

interface StopWorkerOptions {
  pidfile: string;
  timeout?: number;
}

const DEFAULT_TIMEOUT_MS = 30_000;
/** How often it looks whether the worker has exited. */
const POLL_MS = 100;

/** `--timeout 30s`: a usage error (exit 2) naming the flag when it is not a duration. */
function timeoutArg(value: string): number {
  try {
    return parseDuration(value, '--timeout');
  } catch (error) {
    throw new InvalidArgumentError((error as Error).message);
  }
}

const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

export function stopWorkerCommand(program: Command): void {
  program
    .command('stop-worker')
    .description('stop the worker whose pid is in the pidfile (SIGTERM: it finishes its running tasks) and wait until it has exited')
    .requiredOption('--pidfile <file>', 'the pidfile the worker was started with (run-worker --pidfile)')
    .option('--timeout <duration>', 'how long to wait for it to exit, such as 30s or 5m (default 30s); exit 1 if it is still running then', timeoutArg)
    .action(async (options: StopWorkerOptions) => {
      const path = options.pidfile;
      const holder = readPidfile(path);
      if (holder.kind === 'missing') throw new ConfigError(`--pidfile ${path}: no such file (was the worker started with --pidfile ${path}?)`);
      if (holder.kind === 'garbled') throw new ConfigError(`--pidfile ${path}: it holds no pid (${JSON.stringify(holder.content.slice(0, 40))})`);
      if (holder.kind === 'stale') {
        removePidfileOf(path, holder.pid);
        const now = holder.other === undefined ? '' : ` (pid ${holder.pid} is now another process: ${holder.other}; left alone)`;
        printLine(`worker ${holder.pid} was not running${now}; removed its stale pidfile ${path}`);
        return;
      }
      const { pid } = holder;
      const timeoutMs = options.timeout ?? DEFAULT_TIMEOUT_MS;
      const started = Date.now();
      try {
        process.kill(pid, 'SIGTERM');
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw new TaskqError(`cannot signal worker ${pid}: ${(error as Error).message}`);
      }
      while (isProcessAlive(pid)) {
        if (Date.now() - started >= timeoutMs) {
          throw new TaskqError(`worker ${pid} did not stop within ${seconds(timeoutMs)} of SIGTERM (its running tasks may still be finishing); it is still running`);
        }
        await new Promise((resolve) => setTimeout(resolve, POLL_MS));
      }
      // The worker removes its pidfile as it exits; one killed before it could is removed here.
      removePidfileOf(path, pid);
      printLine(`worker ${pid} stopped after ${seconds(Date.now() - started)}`);
    });
}
