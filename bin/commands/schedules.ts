import { type Command } from 'commander';
import { type ScheduleInfo, Scheduler, declaredSchedules } from '../../src';
import { type GlobalOptions, withDispatcher } from '../context';
import { positiveInt } from '../options';
import { printJson, printLine, printTable, tableCell } from '../output';

interface SchedulesOptions {
  json?: boolean;
  next?: number;
}

/** A tick as the table shows it: UTC, to the second. */
function utc(date: Date): string {
  return date.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

function jsonOf(info: ScheduleInfo) {
  const { nextRuns, lastTick, ...fields } = info;
  return {
    ...fields,
    nextRun: nextRuns[0] ? utc(nextRuns[0]) : null,
    nextRuns: nextRuns.map(utc),
    lastTick: lastTick && { ...lastTick, at: utc(lastTick.at) },
  };
}

export function schedulesCommand(program: Command): void {
  program
    .command('schedules')
    .description("list the config's recurring tasks (schedules) with their next run and their latest tick in the task log")
    .option('--next <n>', 'how many next runs to list per schedule (default 1)', positiveInt('--next'))
    .option('--json', 'print JSON')
    .addHelpText('after', '\nTimes are UTC. Every `taskq run-worker` enqueues each tick of these schedules; each tick runs once.')
    .action(async (options: SchedulesOptions, command: Command) => {
      const global = command.optsWithGlobals<GlobalOptions>();
      await withDispatcher(global, async ({ config, dispatcher }) => {
        // The config's schedules and those it implies (its `prune`), as its workers run them.
        const scheduler = new Scheduler(dispatcher, declaredSchedules(dispatcher), { source: config.source });
        const infos = await scheduler.describe(options.next ?? 1);
        if (options.json) {
          printJson(infos.map(jsonOf));
          return;
        }
        if (infos.length === 0) {
          printLine(`No schedules in ${config.source ?? 'the config'}.`);
          return;
        }
        printTable(
          ['NAME', 'CRON', 'TIMEZONE', 'TASK', 'QUEUE', 'NEXT RUN', 'LAST TICK'],
          infos.map((info) => [
            tableCell(info.name, 60),
            tableCell(info.cron, 60),
            info.timezone,
            tableCell(info.task, 60),
            info.queue,
            info.nextRuns.length === 0 ? 'never' : info.nextRuns.map(utc).join(', '),
            info.lastTick ? `${utc(info.lastTick.at)} ${info.lastTick.status}` : '-',
          ]),
        );
      });
    });
}
