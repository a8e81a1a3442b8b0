import { type Command } from 'commander';
import { TaskModuleError } from '../../src/config';
import { ConfigError } from '../../src/errors';
import type { TaskLogEntry } from '../../src/taskLog/taskLogEntry';
import { TaskLogFilter } from '../../src/taskLog/taskLogFilter';
import { ALL_STATUSES, FINAL_STATUSES, TaskStatus } from '../../src/taskStatus';
import { parseDuration } from '../../src/duration';
import { type GlobalOptions, withDispatcher } from '../context';
import { nonNegativeInt, oneOf, positiveInt } from '../options';
import { printJson, printLine, printTable, tableCell } from '../output';

/** Widest label and report message in the --list table (one line per task; --get has them in full). */
const LABEL_WIDTH = 40;
const REPORT_WIDTH = 80;

interface TaskLogOptions {
  stats?: boolean;
  list?: boolean;
  get?: string;
  archive?: string;
  cancel?: string;
  rerun?: string;
  prune?: boolean;
  olderThan?: string;
  force?: boolean;
  status?: TaskStatus;
  name?: string;
  owner?: string;
  parent?: string;
  limit?: number;
  offset?: number;
  json?: boolean;
}

export function taskLogCommand(program: Command): void {
  program
    .command('task-log')
    .description('inspect and manage the task log: exactly one of --stats, --list, --get, --archive, --cancel, --rerun, --prune')
    .option('--stats', 'tasks per status')
    .option('--list', 'tasks, newest first (archived ones only with --status archived)')
    .option('--get <id>', 'one task with its report')
    .option('--archive <id>', 'archive a task that has ended (or any, with --force)')
    .option('--cancel <id>', 'cancel a task that has not started (or a running one, with --force)')
    .option('--rerun <id>', 'publish a failed or cancelled task again (loads the tasks modules)')
    .option('--prune', 'delete the entries that ended longer ago than --older-than (completed, failed, cancelled, archived; or only --status)')
    .option('--older-than <duration>', 'with --prune: 30d, 12h, 90m, 45s')
    .option('--force', 'with --archive or --cancel')
    .option('--status <status>', `with --list, --stats or --prune: ${ALL_STATUSES.join(', ')}`, oneOf('--status', ALL_STATUSES))
    .option('--name <task>', 'with --list or --stats: only this task name')
    .option('--owner <owner>', 'with --list or --stats: only this owner\'s tasks')
    .option('--parent <id>', 'with --list or --stats: only the children of this task, or the tasks of this batch')
    .option('--limit <n>', 'with --list (default 20)', positiveInt('--limit'))
    .option('--offset <n>', 'with --list', nonNegativeInt('--offset'))
    .option('--json', 'print JSON')
    .action(async (options: TaskLogOptions, command: Command) => {
      const actions = (['stats', 'list', 'get', 'archive', 'cancel', 'rerun', 'prune'] as const).filter((a) => options[a] !== undefined);
      if (actions.length !== 1) throw new ConfigError(`task-log takes exactly one of --stats, --list, --get, --archive, --cancel, --rerun, --prune${actions.length ? ` (got ${actions.map((a) => `--${a}`).join(', ')})` : ''}`);
      if (options.force && !options.archive && !options.cancel) throw new ConfigError('--force goes with --archive or --cancel');
      // An option that does not apply to the chosen form would be ignored: refuse it instead.
      const filters = (['status', 'name', 'owner', 'parent'] as const).filter((o) => options[o] !== undefined);
      if (options.prune) checkPruneOptions(options, filters);
      else if (filters.length && !options.list && !options.stats) throw new ConfigError(`--${filters[0]} goes with --list or --stats`);
      if (options.olderThan !== undefined && !options.prune) throw new ConfigError('--older-than goes with --prune');
      const paging = (['limit', 'offset'] as const).filter((o) => options[o] !== undefined);
      if (paging.length && !options.list) throw new ConfigError(`--${paging[0]} goes with --list`);
      const global = command.optsWithGlobals<GlobalOptions>();
      if (options.rerun !== undefined) {
        await rerun(global, options.rerun, options.json === true);
        return;
      }
      if (options.prune) {
        await prune(global, options);
        return;
      }
      await withDispatcher(global, async ({ dispatcher }) => {
        const log = dispatcher.taskLog;
        const filter = new TaskLogFilter();
        if (options.name) filter.eq('taskName', options.name);
        if (options.owner) filter.eq('owner', options.owner);
        if (options.parent) filter.eq('parentId', options.parent);
        if (options.status) filter.eq('status', options.status);
        if (options.stats) {
          const stats = await log.getStats(filter);
          if (options.json) printJson(stats);
          else printTable(['status', 'tasks'], [...ALL_STATUSES.map((s) => [s, String(stats[s])]), ['total', String(stats.total)]]);
        } else if (options.list) {
          if (!options.status) filter.neq('status', TaskStatus.Archived);
          filter.sort('createdAt', 'desc').sort('id', 'desc').limit(options.limit ?? 20).offset(options.offset ?? 0);
          const entries = await log.search(filter);
          if (options.json) printJson(entries);
          else
            printTable(
              ['id', 'task', 'status', 'label', 'created', 'report'],
              entries.map((e) => [e.id, tableCell(e.taskName, LABEL_WIDTH), e.status, tableCell(e.label, LABEL_WIDTH), e.createdAt.toISOString(), tableCell(e.report?.message, REPORT_WIDTH)]),
            );
        } else {
          const id = (options.get ?? options.archive ?? options.cancel) as string;
          let entry: TaskLogEntry | null;
          if (options.archive) entry = await log.archive(id, { force: options.force });
          else if (options.cancel) entry = await log.cancel(id, { force: options.force });
          else {
            entry = await log.get(id);
            if (!entry) {
              // The reason is a log line (stderr); with --json, stdout still holds valid JSON: null.
              process.exitCode = 1;
              if (options.json) printJson(null);
              process.stderr.write(`taskq: no task ${id} in the task log\n`);
              return;
            }
          }
          if (options.json) printJson(entry);
          else printEntry(entry);
        }
      }, { tasksOptional: true });
    });
}

/**
 * --rerun: unlike the other forms, it needs the tasks modules (only a registered task can run
 * again, and the registry rebuilds it), so a module that fails to load ends it.
 */
async function rerun(global: GlobalOptions, id: string, json: boolean): Promise<void> {
  try {
    await withDispatcher(global, async ({ dispatcher }) => {
      let queueName = '';
      const task = await dispatcher.rerun(id, {
        checkQueue: (queue) => {
          queueName = queue.name;
          if (queue.broker.processLocal) {
            throw new ConfigError(`queue "${queue.name}" keeps its messages inside one process (${queue.broker.type} ${JSON.stringify(queue.broker.describe())}): a task published again from the command line would never reach a worker. Use a broker other processes can reach (rds on a file or a server, sqs), or the sync memory broker`);
          }
        },
      });
      const status = await dispatcher.taskLog.getStatus(task.id);
      if (json) printJson({ id: task.id, name: task.logName, queue: queueName, status });
      // On a sync queue the task has run again already: say how it ended.
      else printLine(`Task ${task.id} (${task.logName}) published again on queue ${queueName}${dispatcher.getQueue(queueName).isSync() ? `; it ran at once and is ${status ?? 'gone from the log'}` : ''}`);
    });
  } catch (error) {
    if (error instanceof TaskModuleError) throw new TaskModuleError(`task-log --rerun needs the config's tasks modules, to rebuild the task from its registered class: ${error.message}`);
    throw error;
  }
}

/** --prune takes --older-than, and --status only for a status that has ended. */
function checkPruneOptions(options: TaskLogOptions, filters: readonly string[]): void {
  const other = filters.find((f) => f !== 'status');
  if (other) throw new ConfigError(`--${other} goes with --list or --stats (--prune takes --older-than and --status)`);
  if (options.olderThan === undefined) throw new ConfigError('--prune needs --older-than DURATION (such as 30d, 12h, 90m, 45s)');
  if (options.status !== undefined && !FINAL_STATUSES.includes(options.status)) {
    throw new ConfigError(`--status ${options.status}: --prune deletes ended tasks only; give one of ${FINAL_STATUSES.join(', ')}`);
  }
}

/** --prune: the entries that ended before now minus --older-than (checked by checkPruneOptions). */
async function prune(global: GlobalOptions, options: TaskLogOptions): Promise<void> {
  const olderThan = new Date(Date.now() - parseDuration(options.olderThan as string, '--older-than'));
  const statuses = options.status ? [options.status] : FINAL_STATUSES;
  await withDispatcher(
    global,
    async ({ dispatcher }) => {
      const pruned = await dispatcher.taskLog.prune({ olderThan, statuses });
      if (options.json) printJson({ pruned, olderThan: olderThan.toISOString(), statuses });
      else printLine(`Pruned ${pruned} task-log entries (${statuses.join(', ')}) that ended before ${olderThan.toISOString()}`);
    },
    { tasksOptional: true },
  );
}

function printEntry(e: TaskLogEntry): void {
  const rows: [string, string][] = [
    ['id', e.id],
    ['task', e.taskName],
    ['label', e.label],
    ['status', e.status],
    ['queue', e.queue ?? ''],
    ['owner', e.owner ?? ''],
    ['parent', e.parentId ?? ''],
    ['attempts', String(e.attempts)],
    ['created', e.createdAt.toISOString()],
    ['started', e.startedAt?.toISOString() ?? ''],
    ['finished', e.finishedAt?.toISOString() ?? ''],
    ['parameters', JSON.stringify(e.parameters)],
  ];
  for (const [k, v] of rows) printLine(`${k.padEnd(11)}${v}`);
  if (e.report) printLine(`report     ${JSON.stringify(e.report, null, 2).replace(/\n/g, '\n           ')}`);
}
