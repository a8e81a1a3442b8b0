export const TaskStatus = {
  Enqueued: 'enqueued',
  Dequeued: 'dequeued',
  Running: 'running',
  ChildRunning: 'child_running',
  Completed: 'completed',
  Failed: 'failed',
  Cancelled: 'cancelled',
  Archived: 'archived',
} as const;

export type TaskStatus = (typeof TaskStatus)[keyof typeof TaskStatus];

export const ALL_STATUSES: readonly TaskStatus[] = Object.values(TaskStatus);

/** Waiting for a worker: may still be cancelled without force. */
export const PENDING_STATUSES: readonly TaskStatus[] = [TaskStatus.Enqueued, TaskStatus.Dequeued];

/** A worker (or the task's children) is working on it. */
export const IN_PROGRESS_STATUSES: readonly TaskStatus[] = [TaskStatus.Running, TaskStatus.ChildRunning];

/** Nothing will run it again. */
export const FINAL_STATUSES: readonly TaskStatus[] = [
  TaskStatus.Completed,
  TaskStatus.Failed,
  TaskStatus.Cancelled,
  TaskStatus.Archived,
];

export function isTaskStatus(value: unknown): value is TaskStatus {
  return typeof value === 'string' && (ALL_STATUSES as readonly string[]).includes(value);
}
