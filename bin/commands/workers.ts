import { type Command } from 'commander';
import type { WorkerInfo } from '../../src';
import { type GlobalOptions, withDispatcher } from '../context';
import { printJson, printLine, printTable, tableCell } from '../output';

interface WorkersOptions {
  json?: boolean;
  all?: boolean;
}

/** "4 s ago", "12 min ago", "3 h ago", "2 d ago". */
function ago(ms: number): string {
  const s = Math.floor(ms / 1000);
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86_400) return `${Math.floor(s / 3600)} h ago`;
  return `${Math.floor(s / 86_400)} d ago`;
}

/** A time to the second, in UTC: 2026-11-30 09:10:11Z. */
const when = (date: Date) => `${date.toISOString().slice(0, 19).replace('T', ' ')}Z`;

/** What a worker is: its status, or `gone` for one that stopped beating without saying it stopped (killed, host down). */
const statusOf = (w: WorkerInfo) => (w.alive || w.status === 'stopped' ? w.status : `gone (last ${w.status})`);

export function workersCommand(program: Command): void {
  program
    .command('workers')
    .description('the workers writing heartbeats to the task log, on every host: the alive ones, or all with --all')
    .option('--all', 'also the workers that stopped, or stopped beating, in the last day')
    .option('--json', 'print JSON: an array of { id, host, pid, queues, startedAt, lastSeenAt, sinceSeenMs, tasksRun, status, heartbeatMs, alive }')
    .action(async (options: WorkersOptions, command: Command) => {
      const global = command.optsWithGlobals<GlobalOptions>();
      await withDispatcher(
        global,
        async ({ dispatcher }) => {
          const workers = (await dispatcher.taskLog.listWorkers()).filter((w) => options.all || w.alive);
          if (options.json) {
            printJson(workers);
            return;
          }
          if (workers.length === 0) {
            printLine(options.all ? 'no workers have written a heartbeat to this task log' : 'no workers alive (--all shows the ones that stopped)');
            return;
          }
          printTable(
            ['HOST', 'PID', 'QUEUES', 'STARTED', 'LAST SEEN', 'TASKS RUN', 'STATUS'],
            workers.map((w) => [tableCell(w.host, 40), String(w.pid), tableCell(w.queues.join(','), 60), when(w.startedAt), ago(w.sinceSeenMs), String(w.tasksRun), statusOf(w)]),
          );
        },
        { tasksOptional: true },
      );
    });
}
