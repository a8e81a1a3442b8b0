import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { type Command, Option } from 'commander';
import { ConfigError, TaskRunError, TaskWaitTimeoutError } from '../../src/errors';
import type { JsonValue } from '../../src/json';
import { PREREQUISITE_FAILURE_ACTIONS, type PrerequisiteFailureAction } from '../../src/prerequisites';
import { type GlobalOptions, withDispatcher } from '../context';
import { idList, nonNegativeInt, positiveInt } from '../options';
import { printJson, printLine } from '../output';

interface EnqueueCliOptions {
  params?: string;
  paramsFile?: string;
  queue?: string;
  label?: string;
  owner?: string;
  delay?: number;
  wait?: boolean;
  waitTimeout?: number;
  uniqueKey?: string;
  replace?: boolean;
  after?: string[];
  onPrerequisiteFailure?: PrerequisiteFailureAction;
  json?: boolean;
}

export function enqueueCommand(program: Command): void {
  program
    .command('enqueue')
    .description('publish a registered task (or a registered callback, by its name)')
    .argument('<name>', 'task name')
    .option('--params <json>', 'the task\'s params, a JSON object (for a callback: its argument, any JSON); - reads them from stdin')
    .option('--params-file <file>', 'read the params JSON from a file (for payloads too large for an argument)')
    .option('--queue <name>', 'publish to this queue, whatever the associations say')
    .option('--label <label>', 'a label for the task log')
    .option('--owner <owner>', 'who the task is for, stored in the task log')
    .option('--delay <ms>', 'not run before this many ms from now', nonNegativeInt('--delay'))
    .option('--wait', 'block until the task ends; exit 1 if it did not complete')
    .option('--wait-timeout <ms>', 'with --wait: give up after this long (exit 1)', positiveInt('--wait-timeout'))
    .option('--unique-key <key>', 'if a task of this key is still pending, that task is the answer (its id printed) and no other is added')
    .option('--replace', 'with --unique-key: the pending task of the key takes these params and this delay instead')
    .option('--after <ids>', 'hold the task until these tasks (ids, comma-separated) completed', idList('--after'))
    .addOption(new Option('--on-prerequisite-failure <action>', 'with --after: what a failed or cancelled prerequisite does to this task (default cancel)').choices([...PREREQUISITE_FAILURE_ACTIONS]))
    .option('--json', 'print JSON')
    .action(async (name: string, options: EnqueueCliOptions, command: Command) => {
      if (options.waitTimeout !== undefined && !options.wait) throw new ConfigError('--wait-timeout goes with --wait');
      let params: JsonValue = {};
      const text = await paramsText(options);
      if (text !== undefined) {
        const flag = options.paramsFile !== undefined ? `--params-file ${options.paramsFile}` : options.params === '-' ? '--params - (stdin)' : '--params';
        try {
          params = JSON.parse(text) as JsonValue;
        } catch (error) {
          throw new ConfigError(`${flag} is not valid JSON: ${(error as Error).message}`);
        }
      }
      const global = command.optsWithGlobals<GlobalOptions>();
      await withDispatcher(global, async ({ dispatcher }) => {
        await dispatcher.registry.resolve(name);
        const task = dispatcher.registry.create(name, params);
        const queue = dispatcher.queueFor(dispatcher.registry.bind(task), options.queue);
        if (queue.broker.processLocal) {
          throw new ConfigError(`queue "${queue.name}" keeps its messages inside one process (${queue.broker.type} ${JSON.stringify(queue.broker.describe())}): a task enqueued from the command line would never reach a worker. Use a broker other processes can reach (rds on a file or a server, sqs), or the sync memory broker`);
        }
        const enqueueOptions = {
          label: options.label,
          owner: options.owner,
          queue: options.queue,
          delay: options.delay,
          uniqueKey: options.uniqueKey,
          replace: options.replace,
          after: options.after,
          onPrerequisiteFailure: options.onPrerequisiteFailure,
        };
        if (!options.wait) {
          // A unique enqueue's task is the one holding the key: this one, or the pending one found.
          const outcome = options.uniqueKey !== undefined ? (await dispatcher.enqueueUnique(task, { ...enqueueOptions, uniqueKey: options.uniqueKey })).outcome : (await dispatcher.enqueue(task, enqueueOptions), undefined);
          if (options.json) printJson({ id: task.id, name: task.name, status: await dispatcher.taskLog.getStatus(task.id), ...(outcome ? { outcome } : {}) });
          else printLine(task.id);
          if (outcome && outcome !== 'created' && !options.json) process.stderr.write(`taskq: a task of key ${JSON.stringify(options.uniqueKey)} was pending: ${task.id} (${outcome})\n`);
          return;
        }
        // Awaited as the API does it; a failure or a wait given up is exit 1, with what is known.
        let result: unknown;
        try {
          result = await dispatcher.run(task, { ...enqueueOptions, timeout: options.waitTimeout });
        } catch (error) {
          if (!(error instanceof TaskRunError) && !(error instanceof TaskWaitTimeoutError)) throw error;
          process.exitCode = 1;
        }
        const entry = await dispatcher.taskLog.get(task.id);
        if (options.json) {
          printJson(entry);
          return;
        }
        printLine(`${task.id} ${entry?.status ?? 'unknown'}${entry?.report ? `: ${entry.report.message}` : ''}`);
        if (result !== undefined) printLine(JSON.stringify(result));
      });
    });
}

/** The params' JSON text: from --params, from stdin with `--params -`, or from --params-file. */
async function paramsText(options: EnqueueCliOptions): Promise<string | undefined> {
  if (options.params !== undefined && options.paramsFile !== undefined) throw new ConfigError('give --params or --params-file, not both');
  if (options.paramsFile !== undefined) {
    try {
      return readFileSync(resolve(options.paramsFile), 'utf8');
    } catch (error) {
      throw new ConfigError(`--params-file ${options.paramsFile} could not be read: ${(error as Error).message}`);
    }
  }
  if (options.params !== '-') return options.params;
  if (process.stdin.isTTY) throw new ConfigError('--params - reads the params from stdin, which is a terminal: pipe them in');
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}
