import type { JsonValue } from '../json';
import type { ReportData } from '../report';
import type { TaskStatus } from '../taskStatus';

/** One task's row in the task log. */
export interface TaskLogEntry {
  id: string;
  parentId: string | null;
  taskName: string;
  label: string;
  status: TaskStatus;
  owner: string | null;
  queue: string | null;
  parameters: JsonValue;
  report: ReportData | null;
  progress: JsonValue;
  /** Runs started so far (first run, retries, redeliveries after a crash). */
  attempts: number;
  /** Of those, runs taken over after their lease ran out (worker died or lost the lease). */
  stalls: number;
  workerId: string | null;
  /** While running: the time after which another worker may take the task over. */
  leaseUntil: Date | null;
  createdAt: Date;
  updatedAt: Date;
  startedAt: Date | null;
  finishedAt: Date | null;
  /** For an archived task: the status it had when it was archived. */
  archivedFrom: TaskStatus | null;
}

export type NewTaskLogEntry = Pick<
  TaskLogEntry,
  'id' | 'parentId' | 'taskName' | 'label' | 'owner' | 'queue' | 'parameters' | 'createdAt'
> & { status: TaskStatus; report?: ReportData | null };

/** The columns a filter may name: a whitelist, so no caller-given text reaches SQL as a name. */
export const TASK_LOG_COLUMNS = [
  'id',
  'parentId',
  'taskName',
  'label',
  'status',
  'owner',
  'queue',
  'attempts',
  'workerId',
  'createdAt',
  'updatedAt',
  'startedAt',
  'finishedAt',
  'leaseUntil',
] as const;

export type TaskLogColumn = (typeof TASK_LOG_COLUMNS)[number];
