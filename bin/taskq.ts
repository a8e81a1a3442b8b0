#!/usr/bin/env node
import { Command, CommanderError, Option } from 'commander';
import { ConfigError } from '../src/errors';
import { enqueueCommand } from './commands/enqueue';
import { initializeQueueCommand } from './commands/initializeQueue';
import { runWorkerCommand } from './commands/runWorker';
import { taskLogCommand } from './commands/taskLog';
import { tasksCommand } from './commands/tasks';
import { schedulesCommand } from './commands/schedules';
import { stopWorkerCommand } from './commands/stopWorker';
import { workersCommand } from './commands/workers';
import { queuesCommand } from './commands/queues';
import { purgeCommand } from './commands/purge';
import { serveCommand } from './commands/serve';
import { exitWhenFlushed, watchStdout } from './output';

// The AWS SDK warns on every SQS client under Node 20 (past its upstream support, as the README
// says): nine lines on stderr around each one-line error. taskq supports Node 20 on purpose.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

const EXIT_FAILED = 1;
const EXIT_USAGE = 2;

function buildProgram(): Command {
  const program = new Command('taskq')
    .description('taskq: background tasks on weighted queues, with a task log')
    .option('-c, --config <path>', 'config file (else $TASKQ_CONFIG, else taskq.config.{json,js,cjs,mjs} here)')
    .addOption(new Option('--log-level <level>', 'log level on stderr').choices(['debug', 'info', 'warn', 'error', 'silent']))
    .exitOverride();
  initializeQueueCommand(program);
  runWorkerCommand(program);
  taskLogCommand(program);
  enqueueCommand(program);
  tasksCommand(program);
  schedulesCommand(program);
  workersCommand(program);
  stopWorkerCommand(program);
  queuesCommand(program);
  purgeCommand(program);
  serveCommand(program);
  for (const command of program.commands) command.exitOverride();
  return program;
}

async function main(argv: string[]): Promise<void> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
  } catch (error) {
    if (error instanceof CommanderError) {
      // commander has printed its one-line reason already; help and version are not errors.
      process.exitCode = error.exitCode === 0 ? 0 : EXIT_USAGE;
      return;
    }
    if (error instanceof ConfigError) {
      process.stderr.write(`taskq: ${error.message}\n`);
      process.exitCode = EXIT_USAGE;
      return;
    }
    process.stderr.write(`taskq: ${(error as Error).message ?? String(error)}\n`);
    if (process.env.TASKQ_DEBUG) process.stderr.write(`${(error as Error).stack}\n`);
    process.exitCode = EXIT_FAILED;
  }
}

watchStdout();
// Exit once the command is done, even if a timed-out task that ignored its abort signal is still
// holding the event loop open; but not before what it printed has drained (a pipe takes 64 KiB at
// a time: exiting at once would cut the output there, with exit 0).
void main(process.argv).then(() => exitWhenFlushed(Number(process.exitCode ?? 0)));
