import { type Command } from 'commander';
import { ConfigError } from '../../src/errors';
import { installWorkerSignals } from '../../src/signals';
import { Worker } from '../../src/worker';
import { installWorkerProcessHandlers } from '../../src/workerProcess';
import { type GlobalOptions, withDispatcher } from '../context';
import { nonNegativeInt, positiveInt } from '../options';
import { printJson } from '../output';

interface RunWorkerOptions {
  queue?: string;
  limit?: number;
  concurrency?: number;
  prefetch?: number;
  leaseMs?: number;
  json?: boolean;
  exitOnUncaught?: boolean;
  /** false with --no-schedules. */
  schedules?: boolean;
}

export function runWorkerCommand(program: Command): void {
  program
    .command('run-worker')
    .description('consume one queue, or every queue picked at random by weight, until stopped or --limit tasks ran')
    .option('--queue <name>', 'consume only this queue')
    .option('--limit <n>', 'stop after n tasks', positiveInt('--limit'))
    .option('--concurrency <n>', 'tasks run at the same time (default 1)', positiveInt('--concurrency'))
    .option('--prefetch <n>', 'messages held unstarted beyond the free slots (default 0)', nonNegativeInt('--prefetch'))
    .option('--lease-ms <ms>', 'how long a task stays ours without renewal; a crashed worker\'s tasks run again after it (default 30000)', positiveInt('--lease-ms'))
    .option('--json', 'print the final stats as JSON')
    .option('--no-schedules', "do not enqueue the config's recurring tasks from this worker (others still do)")
    .option('--exit-on-uncaught', 'on an uncaught exception or unhandled rejection, stop gracefully then exit 1 (default: log it, fail its task when known, keep working)')
    .addHelpText(
      'after',
      '\nSignals: SIGTERM, SIGINT, SIGQUIT finish running tasks then exit 0; SIGUSR2 pauses; SIGCONT resumes.' +
        '\nA task calling process.exit() is logged and makes the worker exit non-zero (1 for process.exit(0)).',
    )
    .action(async (options: RunWorkerOptions, command: Command) => {
      const global = command.optsWithGlobals<GlobalOptions>();
      await withDispatcher(global, async ({ dispatcher }) => {
        // A worker process cannot receive what other processes put on a queue that lives inside one.
        const consumed = options.queue ? [dispatcher.getQueue(options.queue)] : dispatcher.getQueues().filter((q) => !q.isSync());
        const local = consumed.filter((q) => q.broker.processLocal);
        if (local.length > 0) {
          throw new ConfigError(`${local.map((q) => `queue "${q.name}"`).join(', ')} ${local.length > 1 ? 'keep their' : 'keeps its'} messages inside one process (${local[0].broker.type}): a worker started from the command line would never receive a task enqueued elsewhere. Use a broker other processes can reach (rds on a file or a server, sqs)`);
        }
        const worker = new Worker(dispatcher, { queue: options.queue, limit: options.limit, concurrency: options.concurrency, prefetch: options.prefetch, leaseMs: options.leaseMs, ...(options.schedules === false ? { schedules: [] } : {}) });
        const handlers = installWorkerProcessHandlers(worker, dispatcher.logger, { exitOnUncaught: options.exitOnUncaught });
        const removeSignals = installWorkerSignals(worker, dispatcher.logger, (code) => {
          handlers.allowExit();
          process.exit(code);
        });
        try {
          const stats = await worker.run();
          if (options.json) printJson(stats);
        } finally {
          removeSignals();
          handlers.remove();
        }
      });
    });
}
