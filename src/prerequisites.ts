import type { JsonValue } from './json';
import { Report } from './report';
import type { TaskLog } from './taskLog/taskLog';
import type { TaskLogEntry } from './taskLog/taskLogEntry';
import { TaskLogFilter } from './taskLog/taskLogFilter';
import { FINAL_STATUSES, TaskStatus } from './taskStatus';
import { isCompleted } from './taskOutcome';

/** What happens to a task when one of its prerequisites ended without completing. */
export type PrerequisiteFailureAction = 'cancel' | 'fail' | 'run';

export const PREREQUISITE_FAILURE_ACTIONS: readonly PrerequisiteFailureAction[] = ['cancel', 'fail', 'run'];

/** The task-log name of a batch's own entry (the parent of its tasks). */
export const BATCH_TASK_NAME = 'taskq:batch';

/** At most this many prerequisites per task: each is read on every look. */
export const MAX_PREREQUISITES = 100;

/** How a task waiting for prerequisites is told to go on, wait, or end. */
export type PrerequisiteDecision =
  /** Every prerequisite ended as the task needs: run it, with their results as ctx.previousResult. */
  | { kind: 'run'; previousResult: JsonValue | undefined }
  /** Some have not ended: look again after `retryMs`. */
  | { kind: 'wait'; waitingFor: string[]; retryMs: number }
  /** The task must not run: it ends in `status` with `report`. */
  | { kind: 'end'; status: typeof TaskStatus.Cancelled | typeof TaskStatus.Failed; report: Report };

export interface Prerequisites {
  ids: readonly string[];
  onFailure: PrerequisiteFailureAction;
  /** Run only when a prerequisite did not complete (a batch's onFailure task); else cancelled. */
  onlyOnFailure?: boolean;
}

/** The first look after this long; later looks wait a tenth of the time waited so far. */
const FIRST_LOOK_MS = 50;
/** Looks are never further apart than this, so a task runs at most this late after its prerequisites. */
const LAST_LOOK_MS = 5_000;

/**
 * When to look again at a task's prerequisites: soon at first (a chain of short tasks moves on
 * within tens of ms), then a tenth of the time it has waited, up to 5 s (a task waiting for an
 * hour-long export costs one look in 5 s, not one in 50 ms).
 */
export function nextLookMs(waitedMs: number): number {
  return Math.round(Math.min(LAST_LOOK_MS, Math.max(FIRST_LOOK_MS, waitedMs / 10)));
}

/**
 * Decides whether a task whose prerequisites are `prerequisites` may run now. A prerequisite is
 * over once its entry is final; final entries never change back to pending (a rerun of a failed
 * one is the exception: the dependent has already been ended by then), so a decision to run is
 * never premature, however many workers look at once.
 */
export async function decidePrerequisites(taskLog: TaskLog, prerequisites: Prerequisites, waitedMs: number): Promise<PrerequisiteDecision> {
  const { ids, onFailure, onlyOnFailure } = prerequisites;
  const found = await taskLog.search(new TaskLogFilter().in('id', ids));
  const byId = new Map(found.map((entry) => [entry.id, entry]));
  const waitingFor = ids.filter((id) => {
    const entry = byId.get(id);
    return entry !== undefined && !FINAL_STATUSES.includes(entry.status);
  });
  // A prerequisite not in the log (pruned: its existence was checked at enqueue) cannot complete.
  const missing = ids.filter((id) => !byId.has(id));
  const notCompleted = found.filter((entry) => FINAL_STATUSES.includes(entry.status) && !isCompleted(entry));
  const anyFailed = missing.length > 0 || notCompleted.length > 0;

  if (anyFailed && !onlyOnFailure && onFailure !== 'run') {
    // One failure decides: no need to wait for the others.
    const why = [
      ...notCompleted.map((entry) => `prerequisite ${entry.id} (${entry.taskName}) ${statusText(entry)}${entry.report?.message ? `: ${entry.report.message}` : ''}`),
      ...missing.map((id) => `prerequisite ${id} is not in the task log`),
    ].join('; ');
    if (onFailure === 'fail') return { kind: 'end', status: TaskStatus.Failed, report: Report.error(`Not run: ${why}`) };
    return { kind: 'end', status: TaskStatus.Cancelled, report: Report.warning(`Not run: ${why}`) };
  }
  if (waitingFor.length > 0) return { kind: 'wait', waitingFor, retryMs: nextLookMs(waitedMs) };
  if (onlyOnFailure && !anyFailed) {
    return { kind: 'end', status: TaskStatus.Cancelled, report: Report.warning(`Not needed: ${ids.map((id) => `${id} (${byId.get(id)?.taskName ?? '?'})`).join(', ')} completed`) };
  }
  return { kind: 'run', previousResult: await resultsOf(taskLog, ids, byId) };
}

function statusText(entry: TaskLogEntry): string {
  return entry.status === TaskStatus.Archived ? `was archived while ${entry.archivedFrom ?? 'unknown'}` : `ended ${entry.status}`;
}

/**
 * What a dependent receives as ctx.previousResult: its one prerequisite's result, or their
 * results in order when several. A batch's result is its outcomes (see batchResultOf).
 */
async function resultsOf(taskLog: TaskLog, ids: readonly string[], byId: ReadonlyMap<string, TaskLogEntry>): Promise<JsonValue | undefined> {
  const results = await Promise.all(ids.map((id) => {
    const entry = byId.get(id);
    return entry ? resultOf(taskLog, entry) : null;
  }));
  return results.length === 1 ? results[0] : results.map((result) => result ?? null);
}

async function resultOf(taskLog: TaskLog, entry: TaskLogEntry): Promise<JsonValue | undefined> {
  if (entry.taskName === BATCH_TASK_NAME) return (await batchResultOf(taskLog, entry)) as unknown as JsonValue;
  return isCompleted(entry) ? (entry.report?.data as JsonValue | undefined) : null;
}

/** One task of a batch as its callbacks see it: the result, or the error message and status. */
export type BatchOutcomeJson =
  | { taskId: string; ok: true; result: JsonValue | null }
  | { taskId: string; ok: false; status: TaskStatus; error: string };

/** A batch's result, handed to its onComplete and onFailure tasks as ctx.previousResult. */
export interface BatchResultJson {
  batchId: string;
  total: number;
  completed: number;
  failed: number;
  outcomes: BatchOutcomeJson[];
}

/** The ids of a batch's tasks, in the order given, as its entry's parameters keep them. */
export function batchTaskIds(entry: TaskLogEntry): string[] {
  const params = entry.parameters;
  if (typeof params !== 'object' || params === null || Array.isArray(params) || !Array.isArray(params.tasks)) return [];
  return params.tasks.filter((id): id is string => typeof id === 'string');
}

export async function batchResultOf(taskLog: TaskLog, batch: TaskLogEntry): Promise<BatchResultJson> {
  const children = await taskLog.search(new TaskLogFilter().eq('parentId', batch.id));
  const byId = new Map(children.map((child) => [child.id, child]));
  const order = batchTaskIds(batch);
  const ids = order.length ? order : children.map((child) => child.id);
  const outcomes = ids.map((taskId): BatchOutcomeJson => {
    const child = byId.get(taskId);
    if (child && isCompleted(child)) return { taskId, ok: true, result: (child.report?.data as JsonValue | undefined) ?? null };
    const status = child?.status ?? TaskStatus.Failed;
    return { taskId, ok: false, status, error: child ? (child.report?.message ?? status) : 'not in the task log' };
  });
  const completed = outcomes.filter((outcome) => outcome.ok).length;
  return { batchId: batch.id, total: outcomes.length, completed, failed: outcomes.length - completed, outcomes };
}
