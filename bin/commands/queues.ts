import { type Command } from 'commander';
import type { QueueDepth } from '../../src';
import { type GlobalOptions, withDispatcher } from '../context';
import { printJson, printLine, printTable, tableCell } from '../output';

/** How long ago `since` was, in its two largest units: 3d 4h, 12m 5s, 45s. */
export function ageOf(since: Date | null, now = Date.now()): string {
  if (since === null) return '-';
  let s = Math.max(0, Math.floor((now - since.getTime()) / 1000));
  const parts: string[] = [];
  for (const [unit, size] of [['d', 86_400], ['h', 3_600], ['m', 60], ['s', 1]] as const) {
    if (s >= size || (unit === 's' && parts.length === 0)) {
      parts.push(`${Math.floor(s / size)}${unit}`);
      s %= size;
    }
  }
  return parts.slice(0, 2).join(' ');
}

function jsonOf(depth: QueueDepth, now: number) {
  const age = (at: Date | null) => (at === null ? null : Math.max(0, now - at.getTime()));
  return {
    ...depth,
    oldestWaitingAgeMs: age(depth.oldestWaitingAt),
    tasks: depth.tasks.map((t) => ({ ...t, oldestWaitingAgeMs: age(t.oldestWaitingAt) })),
  };
}

export function queuesCommand(program: Command): void {
  program
    .command('queues')
    .description('how full each queue is: its messages, and its waiting and running tasks per task name, with the oldest waiting one\'s age')
    .option('--json', 'print JSON')
    .addHelpText('after', '\nwaiting: enqueued or dequeued in the task log, not taken by a worker yet. messages: what the broker holds (SQS: its approximate count).')
    .action(async (options: { json?: boolean }, command: Command) => {
      const global = command.optsWithGlobals<GlobalOptions>();
      await withDispatcher(
        global,
        async ({ dispatcher }) => {
          const depths = await dispatcher.queueDepths();
          const now = Date.now();
          if (options.json) {
            printJson(depths.map((d) => jsonOf(d, now)));
            return;
          }
          printTable(
            ['QUEUE', 'BROKER', 'MESSAGES', 'WAITING', 'RUNNING', 'OLDEST WAITING'],
            depths.map((d) => [d.queue, d.broker, String(d.messages), String(d.waiting), String(d.running), ageOf(d.oldestWaitingAt, now)]),
          );
          const rows = depths.flatMap((d) => d.tasks.map((t) => [d.queue, tableCell(t.taskName, 60), String(t.waiting), String(t.running), ageOf(t.oldestWaitingAt, now)]));
          if (rows.length === 0) return;
          printLine();
          printTable(['QUEUE', 'TASK', 'WAITING', 'RUNNING', 'OLDEST WAITING'], rows);
        },
        { tasksOptional: true },
      );
    });
}
