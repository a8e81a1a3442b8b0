import { ConfigError, TaskNotFoundError, TaskStateError, TaskqError } from '../errors';
import type { JsonValue } from '../json';
import { Report, type ReportData } from '../report';
import { ALL_STATUSES, FINAL_STATUSES, IN_PROGRESS_STATUSES, PENDING_STATUSES, TaskStatus } from '../taskStatus';
import { BATCH_TASK_NAME, batchTaskIds } from '../prerequisites';
import type { ClaimLimits } from '../taskLimits';
import { TaskEndWatcher, type WaitForEndOptions } from './taskEndWatcher';
import type { ClaimResult, StatusChange, TaskHolder, TaskLogBroker } from './taskLogBroker';

export type { TaskHolder } from './taskLogBroker';
import type { FinishedCount, PendingCount } from './taskLogBroker';
import type { WorkerHeartbeat, WorkerRecord } from './taskLogBroker';
import type { NewTaskLogEntry, TaskLogEntry } from './taskLogEntry';
import { TaskLogFilter } from './taskLogFilter';

export type TaskLogStats = Record<TaskStatus, number> & { total: number };

/** What `prune` deletes: entries that ended before `olderThan`, of these statuses (default: every final one). */
export interface ThroughputOptions {
  /** Counts tasks that finished after this time; default an hour ago. */
  since?: Date;
  /** How long each interval is; default a minute. At most 1,000 intervals from `since` to now. */
  intervalMs?: number;
  /** Only the tasks it matches (paging and sorting ignored). */
  filter?: TaskLogFilter;
}

/** Completed and failed tasks per interval, every interval from `since` to now, zeros included. */
export interface Throughput {
  since: Date;
  intervalMs: number;
  intervals: FinishedCount[];
}

export interface PruneOptions {
  olderThan: Date;
  statuses?: readonly TaskStatus[];
}

/** A batch's tasks: how many it was given, how many ended, and of those how many completed. */
export interface BatchCounts {
  total: number;
  /** Ended: completed, failed, cancelled or archived. */
  done: number;
  completed: number;
  failed: number;
}

/** The slowest poll of a wait whose broker announces ends: a safety net for a lost notification. */
const NOTIFIED_POLL_MS = 2_000;

/** How often a worker writes its heartbeat unless told otherwise (WorkerOptions.heartbeatMs). */
export const DEFAULT_HEARTBEAT_MS = 10_000;
/** Heartbeats a worker may miss before it no longer counts as alive. */
const MISSED_HEARTBEATS = 3;

/** A worker's row, and whether it is alive: not stopped, and seen within three of its heartbeats. */
export interface WorkerInfo extends WorkerRecord {
  alive: boolean;
}

/**
 * Every task's status and report, on its own broker. It is also what makes at-least-once delivery
 * safe: a worker runs a task only after `claim` moved it to running.
 */
export class TaskLog {
  /** Made by the first wait for a task's end. */
  private endWatcher: TaskEndWatcher | undefined;
  /** The broker's end notifications, subscribed with the first wait: resolves with the unsubscribe. */
  private endSubscription: Promise<(() => Promise<void>) | undefined> | undefined;

  constructor(readonly broker: TaskLogBroker) {}

  createContainer(): Promise<void> {
    return this.broker.createContainer();
  }

  add(entries: readonly NewTaskLogEntry[]): Promise<void> {
    return this.broker.add(entries);
  }

  /** Adds the entries not in the log yet (a worker meeting a task whose entry is missing). */
  addIfMissing(entries: readonly NewTaskLogEntry[]): Promise<void> {
    return this.broker.addIfMissing(entries);
  }

  /**
   * One entry. A batch's entry (BATCH_TASK_NAME) shows how far its tasks have got as its
   * `progress`, counted now from their entries: `{ total, done, completed, failed }`.
   */
  async get(id: string): Promise<TaskLogEntry | null> {
    const entry = await this.broker.get(id);
    if (entry?.taskName === BATCH_TASK_NAME) entry.progress = { ...(await this.countBatch(entry)) };
    return entry;
  }

  private async countBatch(batch: TaskLogEntry): Promise<BatchCounts> {
    const counts = await this.broker.countByStatus(new TaskLogFilter().eq('parentId', batch.id));
    const done = FINAL_STATUSES.reduce((n, status) => n + (counts[status] ?? 0), 0);
    const completed = counts.completed ?? 0;
    return { total: batchTaskIds(batch).length, done, completed, failed: done - completed };
  }

  /**
   * Resolves with the entries of `ids`, in that order, once every one is final (completed,
   * failed, cancelled or archived), whichever process ends them. Tasks ended through this log
   * object are seen at once, and so are all on a broker that announces ends (PostgreSQL's
   * LISTEN/NOTIFY); others within the poll (5 ms, doubling to 250 ms while nothing ends).
   */
  waitForEnd(ids: readonly string[], options: WaitForEndOptions = {}): Promise<TaskLogEntry[]> {
    if (!this.endWatcher) {
      const watcher = new TaskEndWatcher(this.broker);
      this.endWatcher = watcher;
      this.endSubscription = this.broker.watchEnds?.((ended) => watcher.poke(ended)).then(
        (unsubscribe) => {
          if (unsubscribe) {
            watcher.notified(NOTIFIED_POLL_MS);
            // An end between the first look and the LISTEN would not be announced: look once more.
            watcher.poke();
          }
          return unsubscribe;
        },
        () => undefined,
      );
    }
    return this.endWatcher.wait(ids, options);
  }

  async getStatus(id: string): Promise<TaskStatus | null> {
    return (await this.broker.get(id))?.status ?? null;
  }

  async getReport(id: string): Promise<Report | null> {
    const report = (await this.broker.get(id))?.report;
    return report ? Report.fromJSON(report) : null;
  }

  search(filter: TaskLogFilter = new TaskLogFilter()): Promise<TaskLogEntry[]> {
    return this.broker.search(filter);
  }

  count(filter: TaskLogFilter = new TaskLogFilter()): Promise<number> {
    return this.broker.count(filter.withoutPaging());
  }

  /** Entries per status (every status present, zeros included, enqueued too) and the total. */
  async getStats(filter: TaskLogFilter = new TaskLogFilter()): Promise<TaskLogStats> {
    const counts = await this.broker.countByStatus(filter.withoutPaging());
    const stats = { total: 0 } as TaskLogStats;
    for (const status of ALL_STATUSES) {
      stats[status] = counts[status] ?? 0;
      stats.total += stats[status];
    }
    return stats;
  }

  /** The waiting (enqueued, dequeued) and running tasks, counted per queue and task name. */
  pendingCounts(): Promise<PendingCount[]> {
    return this.broker.pendingCounts();
  }

  /**
   * How many tasks completed and failed in each interval (a minute by default) of the last hour
   * (by default): the dashboard's throughput and failure-rate charts. The first interval starts
   * at `since`, rounded down to a whole interval, so that two calls a moment apart count the
   * same intervals alike.
   */
  async throughput(options: ThroughputOptions = {}): Promise<Throughput> {
    const intervalMs = options.intervalMs ?? 60_000;
    if (!Number.isSafeInteger(intervalMs) || intervalMs < 1_000) throw new ConfigError(`throughput: intervalMs must be a whole number of milliseconds, at least 1000, got ${String(options.intervalMs)}`);
    const now = Date.now();
    const asked = options.since ?? new Date(now - 3_600_000);
    if (!(asked instanceof Date) || Number.isNaN(asked.getTime())) throw new ConfigError(`throughput: since must be a valid Date, got ${String(options.since)}`);
    const span = Math.ceil((now - asked.getTime()) / intervalMs);
    if (span > 1_000) throw new ConfigError(`throughput: ${span} intervals of ${intervalMs} ms since ${asked.toISOString()}; at most 1000: take a longer interval or a later start`);
    // Rounded down, the first interval can begin before `since`: one more, and the current one.
    const start = Math.floor(asked.getTime() / intervalMs) * intervalMs;
    const count = Math.max(1, Math.floor((now - start) / intervalMs) + 1);
    const found = await this.broker.countFinished((options.filter ?? new TaskLogFilter()).withoutPaging(), new Date(start), intervalMs, count);
    const intervals: FinishedCount[] = Array.from({ length: count }, (_, i) => ({ start: new Date(start + i * intervalMs), completed: 0, failed: 0 }));
    for (const counted of found) {
      const at = Math.round((counted.start.getTime() - start) / intervalMs);
      const interval = intervals[at];
      if (!interval) continue;
      interval.completed += counted.completed;
      interval.failed += counted.failed;
    }
    return { since: new Date(start), intervalMs, intervals };
  }

  /**
   * Deletes the entries that ended (finishedAt, else updatedAt) before `olderThan`: completed,
   * failed, cancelled and archived ones, or those of `statuses` (final ones only: a waiting or
   * running task is never pruned). Returns how many were deleted.
   */
  async prune(options: PruneOptions): Promise<number> {
    const { olderThan, statuses = FINAL_STATUSES } = options;
    if (!(olderThan instanceof Date) || Number.isNaN(olderThan.getTime())) throw new ConfigError(`prune: olderThan must be a valid Date, got ${String(olderThan)}`);
    const notFinal = statuses.filter((s) => !FINAL_STATUSES.includes(s));
    if (notFinal.length > 0) throw new ConfigError(`prune: statuses may only name ended statuses (${FINAL_STATUSES.join(', ')}), got ${notFinal.join(', ')}`);
    return statuses.length === 0 ? 0 : this.broker.prune(olderThan, [...new Set(statuses)]);
  }

  /** Archives a task. One still waiting or in progress is refused unless `force`. */
  async archive(id: string, options: { force?: boolean } = {}): Promise<TaskLogEntry> {
    const entry = await this.require(id);
    if (entry.status === TaskStatus.Archived) return entry;
    const from = options.force ? ALL_STATUSES.filter((s) => s !== TaskStatus.Archived) : FINAL_STATUSES;
    if (!from.includes(entry.status)) {
      throw new TaskStateError(`Task ${id} is ${entry.status}: it cannot be archived before it ends (use force)`);
    }
    // An ended task keeps the time it ended; one archived by force ends now.
    const archived = await this.transition(id, { from, to: TaskStatus.Archived, finished: !FINAL_STATUSES.includes(entry.status) }, 'archived');
    if (archived.parentId) await this.settleParent(archived.parentId);
    return archived;
  }

  /**
   * Cancels a task that has not started. With `force`, a running task too: its worker notices at
   * its next lease renewal and aborts the run's signal.
   */
  async cancel(id: string, options: { force?: boolean } = {}): Promise<TaskLogEntry> {
    const entry = await this.require(id);
    const from = options.force ? [...PENDING_STATUSES, ...IN_PROGRESS_STATUSES] : PENDING_STATUSES;
    if (!from.includes(entry.status)) {
      const why = FINAL_STATUSES.includes(entry.status) ? 'it has already ended' : 'it has started (use force)';
      throw new TaskStateError(`Task ${id} is ${entry.status}: it cannot be cancelled, ${why}`);
    }
    const report = JSON.stringify(Report.warning(options.force ? 'Cancelled by force' : 'Cancelled before it started'));
    const cancelled = await this.transition(id, { from, to: TaskStatus.Cancelled, finished: true, report }, 'cancelled');
    // A cancelled child may have been the last one its parent waited for.
    if (cancelled.parentId) await this.settleParent(cancelled.parentId);
    return cancelled;
  }

  // ---- used by workers -------------------------------------------------------------------

  markDequeued(ids: readonly string[]): Promise<void> {
    return ids.length ? this.broker.markDequeued(ids) : Promise.resolve();
  }

  /** Moves the task to running for `workerId`, leased for `leaseMs` on the log's own clock. */
  claim(id: string, workerId: string, leaseMs: number, ifMissing?: NewTaskLogEntry, limits?: ClaimLimits): Promise<ClaimResult> {
    return limits ? this.broker.claim(id, workerId, leaseMs, ifMissing, limits) : this.broker.claim(id, workerId, leaseMs, ifMissing);
  }

  /**
   * Before claiming a unique task whose message carries `revision`: frees its key (a later
   * enqueue of it makes a new task). False when the task was replaced since: the message is
   * stale, a newer one carries the new params. True on a log that keeps no unique keys.
   */
  takeUnique(id: string, revision: number): Promise<boolean> {
    return this.broker.takeUnique ? this.broker.takeUnique(id, revision) : Promise.resolve(true);
  }

  /** Extends the leases still held under these claims; returns the ids of those kept. */
  renewLeases(workerId: string, claims: readonly { id: string; attempt: number }[], leaseMs: number): Promise<string[]> {
    return claims.length ? this.broker.renewLeases(workerId, claims, leaseMs) : Promise.resolve([]);
  }

  changeStatus(id: string, change: StatusChange): Promise<boolean> {
    const changed = this.broker.changeStatus(id, change);
    if (!this.endWatcher || !FINAL_STATUSES.includes(change.to)) return changed;
    return changed.then((applied) => {
      if (applied) this.endWatcher?.poke();
      return applied;
    });
  }

  /** Records progress while `holder` still runs the task; else (no holder, lease lost) nothing. */
  setProgress(id: string, holder: TaskHolder | undefined, progress: JsonValue): Promise<void> {
    return holder ? this.broker.setProgress(id, holder, progress) : Promise.resolve();
  }

  /** Records a failure for a task whose message could not become a run (undecodable, unknown task). */
  async recordFailure(entry: Omit<NewTaskLogEntry, 'status' | 'report'>, report: ReportData): Promise<void> {
    const nonFinal = ALL_STATUSES.filter((s) => !FINAL_STATUSES.includes(s));
    const changed = await this.changeStatus(entry.id, { from: nonFinal, to: TaskStatus.Failed, finished: true, report: JSON.stringify(report) });
    if (changed) return;
    if (await this.broker.get(entry.id)) return; // already final: keep what it has
    await this.broker.add([{ ...entry, status: TaskStatus.Failed, report }]);
    this.endWatcher?.poke();
  }

  /**
   * Ends a `child_running` parent once none of its children is left to run: `completed` when
   * every child completed (or was archived once completed), else `failed`. Whatever ends a child
   * (its run, a cancel, an archive, a stall that gives up) calls it after its own write, so the
   * last one settles the parent; the status CAS makes it once.
   */
  async settleParent(parentId: string): Promise<void> {
    const children = new TaskLogFilter().eq('parentId', parentId);
    const counts = await this.broker.countByStatus(children);
    const unfinished = ALL_STATUSES.filter((s) => !FINAL_STATUSES.includes(s)).reduce((n, s) => n + (counts[s] ?? 0), 0);
    if (unfinished > 0) return;
    const parent = await this.broker.get(parentId);
    if (!parent || parent.status !== TaskStatus.ChildRunning) return;
    // A batch is child_running before its tasks are written, and where a queue writes messages
    // before their entries (SQS) a worker can end the first tasks before the others have entries.
    if (parent.taskName === BATCH_TASK_NAME && ALL_STATUSES.reduce((n, s) => n + (counts[s] ?? 0), 0) < batchTaskIds(parent).length) return;
    let archivedUncompleted = 0;
    if (counts.archived) {
      const archived = await this.broker.search(new TaskLogFilter().eq('parentId', parentId).eq('status', TaskStatus.Archived));
      archivedUncompleted = archived.filter((child) => child.archivedFrom !== TaskStatus.Completed).length;
    }
    const failed = (counts.failed ?? 0) + (counts.cancelled ?? 0) + archivedUncompleted;
    const own = parent.report ? Report.fromJSON(parent.report) : Report.success('Task completed');
    const report = failed > 0 ? Report.error(`${failed} child task(s) did not complete`).add(own) : own;
    const to = failed > 0 ? TaskStatus.Failed : TaskStatus.Completed;
    const settled = await this.changeStatus(parentId, { from: [TaskStatus.ChildRunning], to, finished: true, report: JSON.stringify(report) });
    if (settled && parent.parentId) await this.settleParent(parent.parentId);
  }

  // ---- worker supervision ----------------------------------------------------------------------

  /** Stores a worker's heartbeat; nothing on a broker that keeps no workers. */
  recordWorker(heartbeat: WorkerHeartbeat): Promise<void> {
    return this.broker.recordWorker ? this.broker.recordWorker(heartbeat) : Promise.resolve();
  }

  /** Every worker that wrote a heartbeat (and was not removed since), oldest start first; none on a broker that keeps no workers. */
  async listWorkers(): Promise<WorkerInfo[]> {
    const workers = this.broker.listWorkers ? await this.broker.listWorkers() : [];
    return workers.map((w) => ({ ...w, alive: w.status !== 'stopped' && w.sinceSeenMs <= MISSED_HEARTBEATS * w.heartbeatMs }));
  }

  /** Drops the workers not seen for `olderThanMs`; returns how many. */
  removeWorkers(olderThanMs: number): Promise<number> {
    return this.broker.removeWorkers ? this.broker.removeWorkers(olderThanMs) : Promise.resolve(0);
  }

  async close(): Promise<void> {
    this.endWatcher?.close(new TaskqError('The task log was closed while waiting for tasks to end'));
    const unsubscribe = await this.endSubscription;
    await unsubscribe?.();
    await this.broker.close();
  }

  private async require(id: string): Promise<TaskLogEntry> {
    const entry = await this.broker.get(id);
    if (!entry) throw new TaskNotFoundError(id);
    return entry;
  }

  private async transition(id: string, change: StatusChange, verb: string): Promise<TaskLogEntry> {
    if (!(await this.changeStatus(id, change))) {
      const now = await this.require(id);
      throw new TaskStateError(`Task ${id} changed to ${now.status} meanwhile: it was not ${verb}`);
    }
    return this.require(id);
  }
}
