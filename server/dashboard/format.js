/** How times, durations and JSON values read on the dashboard. */

/** A time in the reader's zone, or a dash. */
export function formatTime(/** @type {string | null | undefined} */ iso) {
  if (!iso) return '—';
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? iso : date.toLocaleString();
}

/** 850 ms, 12.3 s, 4 min, 2.5 h, 3 d. */
export function formatDuration(/** @type {number | null | undefined} */ ms) {
  if (ms === null || ms === undefined) return '—';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  if (ms < 3_600_000) return `${Math.round(ms / 60_000)} min`;
  if (ms < 86_400_000) return `${(ms / 3_600_000).toFixed(1)} h`;
  return `${(ms / 86_400_000).toFixed(1)} d`;
}

/** How long ago a time was: "12.3 s ago". */
export function formatAge(/** @type {string | null | undefined} */ iso, now = Date.now()) {
  if (!iso) return '—';
  return `${formatDuration(Math.max(0, now - new Date(iso).getTime()))} ago`;
}

/** Any JSON value, indented; undefined as a dash. */
export function formatJson(/** @type {unknown} */ value) {
  return value === undefined ? '—' : JSON.stringify(value, null, 2);
}

/** The statuses of the task log, in lifecycle order (GET /api/stats answers each of them). */
export const STATUSES = ['enqueued', 'dequeued', 'running', 'child_running', 'completed', 'failed', 'cancelled', 'archived'];

/** Statuses after which nothing changes unless someone acts: pages stop polling a task in one. */
export const FINAL_STATUSES = ['completed', 'failed', 'cancelled', 'archived'];
