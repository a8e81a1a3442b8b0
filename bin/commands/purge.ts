import { hostname, userInfo } from 'node:os';
import { createInterface } from 'node:readline/promises';
import { type Command } from 'commander';
import { ConfigError, TaskLogFilter, TaskStatus } from '../../src';
import { type GlobalOptions, withDispatcher } from '../context';
import { printJson, printLine } from '../output';

interface PurgeCommandOptions {
  queue: string;
  task?: string;
  yes?: boolean;
  json?: boolean;
}

/** Who purges, for the cancelled tasks' report: user@host. */
function purger(): string {
  let user: string;
  try {
    user = userInfo().username;
  } catch {
    user = process.env.USER ?? 'unknown';
  }
  return `${user}@${hostname()}`;
}

/** Asks on the terminal; true only for y or yes. */
async function confirm(question: string): Promise<boolean> {
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    return /^y(es)?$/i.test((await rl.question(question)).trim());
  } finally {
    rl.close();
  }
}

export function purgeCommand(program: Command): void {
  program
    .command('purge')
    .description('cancel the waiting tasks of a queue (or of one task name on it) and remove their messages; running tasks are left alone')
    .requiredOption('--queue <name>', 'the queue to purge')
    .option('--task <name>', 'only the tasks of this name')
    .option('--yes', 'do not ask for confirmation (needed when stdin is not a terminal)')
    .option('--json', 'print JSON')
    .addHelpText('after', '\nPurged tasks end cancelled in the task log, with a report saying who purged them and when.')
    .action(async (options: PurgeCommandOptions, command: Command) => {
      const global = command.optsWithGlobals<GlobalOptions>();
      // Refused before the config is read: a script without --yes must not hang on a question.
      if (!options.yes && !process.stdin.isTTY) throw new ConfigError('purge asks for confirmation and stdin is not a terminal: pass --yes to purge without asking');
      await withDispatcher(
        global,
        async ({ dispatcher }) => {
          const queue = dispatcher.getQueue(options.queue);
          const what = `waiting ${options.task === undefined ? '' : `${options.task} `}tasks of queue ${queue.name}`;
          if (!options.yes) {
            const filter = new TaskLogFilter().eq('queue', queue.name).in('status', [TaskStatus.Enqueued, TaskStatus.Dequeued]);
            if (options.task !== undefined) filter.eq('taskName', options.task);
            const waiting = await dispatcher.taskLog.count(filter);
            if (!(await confirm(`Purge ${waiting} ${what}? [y/N] `))) {
              process.stderr.write('taskq: nothing purged\n');
              return;
            }
          }
          const result = await dispatcher.purge(queue.name, { taskName: options.task, by: purger() });
          if (options.json) printJson({ queue: queue.name, taskName: options.task ?? null, ...result });
          else printLine(`Purged ${result.cancelled} ${what} (now cancelled); ${result.messagesRemoved} message(s) removed from its broker`);
        },
        { tasksOptional: true },
      );
    });
}
