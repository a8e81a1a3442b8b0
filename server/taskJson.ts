import type { TaskLogEntry } from '../src';
import type { TaskJson } from './schemas';

const iso = (date: Date | null): string | null => (date ? date.toISOString() : null);

/** A log entry as the API shows it: times as ISO 8601 strings. */
export function taskJson(entry: TaskLogEntry): TaskJson {
  return {
    id: entry.id,
    parentId: entry.parentId,
    taskName: entry.taskName,
    label: entry.label,
    status: entry.status,
    owner: entry.owner,
    queue: entry.queue,
    parameters: entry.parameters,
    report: entry.report,
    progress: entry.progress,
    attempts: entry.attempts,
    stalls: entry.stalls,
    workerId: entry.workerId,
    leaseUntil: iso(entry.leaseUntil),
    createdAt: entry.createdAt.toISOString(),
    updatedAt: entry.updatedAt.toISOString(),
    startedAt: iso(entry.startedAt),
    finishedAt: iso(entry.finishedAt),
    archivedFrom: entry.archivedFrom,
  };
}

/** How long it waited and ran; the log keeps the last run's start, so with retries queuedMs spans them. */
export function timingsOf(entry: TaskLogEntry) {
  const { createdAt, startedAt, finishedAt } = entry;
  return {
    createdAt: createdAt.toISOString(),
    startedAt: iso(startedAt),
    finishedAt: iso(finishedAt),
    queuedMs: startedAt ? Math.max(0, startedAt.getTime() - createdAt.getTime()) : null,
    runMs: startedAt && finishedAt && finishedAt >= startedAt ? finishedAt.getTime() - startedAt.getTime() : null,
  };
}
