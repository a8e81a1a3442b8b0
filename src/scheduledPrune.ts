import { z } from 'zod';
import { parseDuration } from './duration';
import { Report } from './report';
import { scheduleSchema, type ScheduleDefinition } from './schedules/schedule';
import { AbstractTask, type TaskClass } from './task';
import type { TaskLog } from './taskLog/taskLog';
import { FINAL_STATUSES, type TaskStatus } from './taskStatus';

/** The built-in task a `prune` config runs, and its schedule's name (`taskq schedules`, tick ids). */
export const PRUNE_TASK_NAME = 'taskq:prune';
export const PRUNE_SCHEDULE_NAME = 'taskq-prune';
/** Daily, at an odd minute of a quiet hour (UTC), so many installations do not all prune at 00:00. */
export const DEFAULT_PRUNE_CRON = '17 3 * * *';

/** The config's `prune`: the task log's ended entries older than `olderThan` deleted on `cron`'s ticks. */
export interface PruneSettings {
  /** A duration: 30d, 12h, 90m, 45s. */
  olderThan: string;
  /** Default DEFAULT_PRUNE_CRON (daily). */
  cron?: string;
  /** Default every final status. */
  statuses?: TaskStatus[];
}

interface PruneParams {
  olderThan: string;
  statuses?: TaskStatus[];
}

export const pruneSchema = z
  .object({
    olderThan: z.string(),
    cron: z.string().min(1).optional(),
    statuses: z.array(z.enum(FINAL_STATUSES as [TaskStatus, ...TaskStatus[]])).min(1).optional(),
  })
  .strict()
  .superRefine((value, ctx) => {
    try {
      parseDuration(value.olderThan, 'olderThan');
    } catch (error) {
      ctx.addIssue({ code: 'custom', path: ['olderThan'], message: (error as Error).message.replace(/^olderThan: /, '') });
    }
    const schedule = scheduleSchema.safeParse(pruneSchedule(value));
    const cronIssue = schedule.success ? undefined : schedule.error.issues.find((i) => i.path[0] === 'cron');
    if (cronIssue) ctx.addIssue({ code: 'custom', path: ['cron'], message: cronIssue.message });
  });

/** The schedule that enqueues the prune task (on the default queue choice, as any task). */
export function pruneSchedule(settings: PruneSettings): ScheduleDefinition {
  const params: PruneParams = { olderThan: settings.olderThan, ...(settings.statuses ? { statuses: settings.statuses } : {}) };
  return { name: PRUNE_SCHEDULE_NAME, cron: settings.cron ?? DEFAULT_PRUNE_CRON, task: PRUNE_TASK_NAME, params: { ...params } };
}

/**
 * The prune task, bound to the task log it prunes (a task gets no dispatcher in its context): a
 * worker of a dispatcher built from a config with `prune` runs it on each tick, one run per tick
 * across every worker (see Scheduler).
 */
export function pruneTaskFor(taskLog: TaskLog): TaskClass {
  return class PruneTaskLog extends AbstractTask<PruneParams> {
    static override taskName = PRUNE_TASK_NAME;
    async run(): Promise<Report> {
      const olderThan = new Date(Date.now() - parseDuration(this.getParameter('olderThan'), `${PRUNE_TASK_NAME}: olderThan`));
      const pruned = await taskLog.prune({ olderThan, statuses: this.getParameter('statuses') });
      return Report.success(`Pruned ${pruned} task-log entries that ended before ${olderThan.toISOString()}`, { pruned, olderThan: olderThan.toISOString() });
    }
  };
}
