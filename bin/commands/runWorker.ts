import { type Command } from 'commander';
import { ConfigError } from '../../src/errors';
import { installWorkerSignals } from '../../src/signals';
import { Worker } from '../../src/worker';
import type { MetricsServer } from '../../src/metricsServer';
import { installWorkerProcessHandlers } from '../../src/workerProcess';
import { type GlobalOptions, withDispatcher } from '../context';
import { nonNegativeInt, positiveInt } from '../options';
import { printJson } from '../output';
import { acquirePidfile } from '../pidfile';
import { watchMemory } from '../memoryLimit';

interface RunWorkerOptions {
  queue?: string;
  limit?: number;
  /** Same as limit. */
  maxTasks?: number;
  /** MB of resident memory past which the worker stops gracefully (exit 0, for its supervisor to restart it). */
  maxMemory?: number;
  pidfile?: string;
  concurrency?: number;
  prefetch?: number;
  claimAhead?: boolean;
  leaseMs?: number;
  json?: boolean;
  exitOnUncaught?: boolean;
  /** false with --no-schedules. */
  schedules?: boolean;
  metricsPort?: number;
  metricsHost?: string;
}

export function runWorkerCommand(program: Command): void {
  program
    .command('run-worker')
    .description('consume one queue, or every queue picked at random by weight, until stopped or --limit tasks ran')
    .option('--queue <name>', 'consume only this queue')
    .option('--limit <n>', 'stop after n tasks', positiveInt('--limit'))
    .option('--max-tasks <n>', 'same as --limit: stop after n tasks and exit 0, for a supervisor to start a fresh worker', positiveInt('--max-tasks'))
    .option('--max-memory <mb>', 'once the resident memory is over this many MB (checked every second), finish running tasks, take no more and exit 0, for a supervisor to restart it', positiveInt('--max-memory'))
    .option('--pidfile <file>', 'write this process\'s pid to the file, atomically; refuse to start (exit 2) while it names a running process, take it over when stale; removed on exit')
    .option('--concurrency <n>', 'tasks run at the same time (default 1)', positiveInt('--concurrency'))
    .option('--prefetch <n>', 'messages held unstarted beyond the free slots (default 0)', nonNegativeInt('--prefetch'))
    .option('--claim-ahead', 'with --prefetch: claim the tasks of a receive in the task log when their messages come, in one statement, not each when a slot is free (faster; prefetched tasks show as running). Always so without prefetch')
    .option('--lease-ms <ms>', 'how long a task stays ours without renewal; a crashed worker\'s tasks run again after it (default 30000)', positiveInt('--lease-ms'))
    .option('--json', 'print the final stats as JSON')
    .option('--no-schedules', "do not enqueue the config's recurring tasks from this worker (others still do)")
    .option('--metrics-port <port>', 'serve this worker\'s Prometheus metrics at http://HOST:PORT/metrics (0: a free port, logged as "metrics on URL")', nonNegativeInt('--metrics-port'))
    .option('--metrics-host <host>', 'the address --metrics-port binds (default 127.0.0.1)')
    .option('--exit-on-uncaught', 'on an uncaught exception or unhandled rejection, stop gracefully then exit 1 (default: log it, fail its task when known, keep working)')
    .addHelpText(
      'after',
      '\nSignals: SIGTERM, SIGINT, SIGQUIT finish running tasks then exit 0; SIGUSR2 pauses; SIGCONT resumes.' +
        '\nA task calling process.exit() is logged and makes the worker exit non-zero (1 for process.exit(0)).',
    )
    .action(async (options: RunWorkerOptions, command: Command) => {
      const global = command.optsWithGlobals<GlobalOptions>();
      if (options.maxTasks !== undefined && options.limit !== undefined && options.maxTasks !== options.limit) throw new ConfigError('--max-tasks is the same as --limit: give one of them');
      await withDispatcher(global, async ({ dispatcher }) => {
        const releasePidfile = options.pidfile ? acquirePidfile(options.pidfile, (what) => dispatcher.logger.warn(`--pidfile ${options.pidfile}: it named ${what}; taken over`)) : undefined;
        // A worker process cannot receive what other processes put on a queue that lives inside one.
        const consumed = options.queue ? [dispatcher.getQueue(options.queue)] : dispatcher.getQueues().filter((q) => !q.isSync());
        const local = consumed.filter((q) => q.broker.processLocal);
        if (local.length > 0) {
          throw new ConfigError(`${local.map((q) => `queue "${q.name}"`).join(', ')} ${local.length > 1 ? 'keep their' : 'keeps its'} messages inside one process (${local[0].broker.type}): a worker started from the command line would never receive a task enqueued elsewhere. Use a broker other processes can reach (rds on a file or a server, sqs)`);
        }
        const worker = new Worker(dispatcher, { queue: options.queue, limit: options.maxTasks ?? options.limit, concurrency: options.concurrency, prefetch: options.prefetch, ...(options.claimAhead ? { claimAhead: true } : {}), leaseMs: options.leaseMs, ...(options.schedules === false ? { schedules: [] } : {}) });
        const handlers = installWorkerProcessHandlers(worker, dispatcher.logger, { exitOnUncaught: options.exitOnUncaught });
        const removeSignals = installWorkerSignals(worker, dispatcher.logger, (code) => {
          handlers.allowExit();
          process.exit(code);
        });
        const maxMemory = options.maxMemory;
        const stopWatchingMemory = maxMemory === undefined ? undefined : watchMemory(maxMemory, (rssMb) => {
          dispatcher.logger.warn(`resident memory ${rssMb} MB is over --max-memory ${maxMemory} MB: finishing running tasks, then exiting 0 for the supervisor to restart this worker`, { workerId: worker.id, rssMb, maxMemoryMb: maxMemory });
          void worker.stop();
        });
        let metricsServer: MetricsServer | undefined;
        try {
          if (options.metricsPort !== undefined) {
            if (options.metricsPort > 65_535) throw new ConfigError(`--metrics-port must be at most 65535, got ${options.metricsPort}`);
            // prom-client and the HTTP listener load only for a worker that serves metrics.
            const { TaskqMetrics } = require('../../src/metrics') as typeof import('../../src/metrics');
            const { serveMetrics } = require('../../src/metricsServer') as typeof import('../../src/metricsServer');
            const metrics = new TaskqMetrics({ dispatcher, defaultMetrics: true });
            metrics.observeWorker(worker);
            metrics.observeEnqueues();
            metricsServer = await serveMetrics(metrics, { port: options.metricsPort, host: options.metricsHost });
            dispatcher.logger.info(`metrics on ${metricsServer.url}`, { workerId: worker.id, url: metricsServer.url });
          }
          const stats = await worker.run();
          if (options.json) printJson(stats);
        } finally {
          removeSignals();
          handlers.remove();
          stopWatchingMemory?.();
          releasePidfile?.();
          await metricsServer?.close();
        }
      });
    });
}
