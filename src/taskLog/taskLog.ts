import { TaskNotFoundError, TaskStateError } from '../errors';
import type { JsonValue } from '../json';
import { Report, type ReportData } from '../report';
import { ALL_STATUSES, FINAL_STATUSES, IN_PROGRESS_STATUSES, PENDING_STATUSES, TaskStatus } from '../taskStatus';
import type { ClaimResult, StatusChange, TaskLogBroker } from './taskLogBroker';
import type { NewTaskLogEntry, TaskLogEntry } from './taskLogEntry';
import { TaskLogFilter } from './taskLogFilter';

export type TaskLogStats = Record<TaskStatus, number> & { total: number };

/**
 * Every task's status and report, on its own broker. It is also what makes at-least-once delivery
 * safe: a worker runs a task only after `claim` moved it to running.
 */
export class TaskLog {
  constructor(readonly broker: TaskLogBroker) {}

  createContainer(): Promise<void> {
    return this.broker.createContainer();
  }

  add(entries: readonly NewTaskLogEntry[]): Promise<void> {
    return this.broker.add(entries);
  }

  get(id: string): Promise<TaskLogEntry | null> {
    return this.broker.get(id);
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

  /** Archives a task. One still waiting or in progress is refused unless `force`. */
  async archive(id: string, options: { force?: boolean } = {}): Promise<TaskLogEntry> {
    const entry = await this.require(id);
    if (entry.status === TaskStatus.Archived) return entry;
    const from = options.force ? ALL_STATUSES.filter((s) => s !== TaskStatus.Archived) : FINAL_STATUSES;
    if (!from.includes(entry.status)) {
      throw new TaskStateError(`Task ${id} is ${entry.status}: it cannot be archived before it ends (use force)`);
    }
    // An ended task keeps the time it ended; one archived by force ends now.
    return this.transition(id, { from, to: TaskStatus.Archived, finished: !FINAL_STATUSES.includes(entry.status) }, 'archived');
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
    const report = Report.warning(options.force ? 'Cancelled by force' : 'Cancelled before it started').toJSON();
    return this.transition(id, { from, to: TaskStatus.Cancelled, finished: true, report }, 'cancelled');
  }

  // ---- used by workers -------------------------------------------------------------------

  markDequeued(ids: readonly string[]): Promise<void> {
    return ids.length ? this.broker.markDequeued(ids) : Promise.resolve();
  }

  claim(id: string, workerId: string, leaseMs: number): Promise<ClaimResult> {
    const now = new Date();
    return this.broker.claim(id, workerId, new Date(now.getTime() + leaseMs), now);
  }

  renewLeases(ids: readonly string[], workerId: string, leaseMs: number): Promise<string[]> {
    return ids.length ? this.broker.renewLeases(ids, workerId, new Date(Date.now() + leaseMs)) : Promise.resolve([]);
  }

  changeStatus(id: string, change: StatusChange): Promise<boolean> {
    return this.broker.changeStatus(id, change);
  }

  setProgress(id: string, workerId: string, progress: JsonValue): Promise<void> {
    return this.broker.setProgress(id, workerId, progress);
  }

  /** Records a failure for a task whose message could not become a run (undecodable, unknown task). */
  async recordFailure(entry: Omit<NewTaskLogEntry, 'status' | 'report'>, report: ReportData): Promise<void> {
    const nonFinal = ALL_STATUSES.filter((s) => !FINAL_STATUSES.includes(s));
    const changed = await this.broker.changeStatus(entry.id, { from: nonFinal, to: TaskStatus.Failed, finished: true, report });
    if (changed) return;
    if (await this.broker.get(entry.id)) return; // already final: keep what it has
    await this.broker.add([{ ...entry, status: TaskStatus.Failed, report }]);
  }

  /**
   * Ends a `child_running` parent once none of its children is left to run: `completed` when
   * every child completed, else `failed`. Both the parent's worker and each child call it after
   * their own write, so whichever comes last settles the parent; the status CAS makes it once.
   */
  async settleParent(parentId: string): Promise<void> {
    const children = new TaskLogFilter().eq('parentId', parentId);
    const counts = await this.broker.countByStatus(children);
    const unfinished = ALL_STATUSES.filter((s) => !FINAL_STATUSES.includes(s)).reduce((n, s) => n + (counts[s] ?? 0), 0);
    if (unfinished > 0) return;
    const parent = await this.broker.get(parentId);
    if (!parent || parent.status !== TaskStatus.ChildRunning) return;
    const failed = (counts.failed ?? 0) + (counts.cancelled ?? 0);
    const own = parent.report ? Report.fromJSON(parent.report) : Report.success('Task completed');
    const report = failed > 0 ? Report.error(`${failed} child task(s) did not complete`).add(own) : own;
    const to = failed > 0 ? TaskStatus.Failed : TaskStatus.Completed;
    const settled = await this.broker.changeStatus(parentId, { from: [TaskStatus.ChildRunning], to, finished: true, report: report.toJSON() });
    if (settled && parent.parentId) await this.settleParent(parent.parentId);
  }

  close(): Promise<void> {
    return this.broker.close();
  }

  private async require(id: string): Promise<TaskLogEntry> {
    const entry = await this.broker.get(id);
    if (!entry) throw new TaskNotFoundError(id);
    return entry;
  }

  private async transition(id: string, change: StatusChange, verb: string): Promise<TaskLogEntry> {
    if (!(await this.broker.changeStatus(id, change))) {
      const now = await this.require(id);
      throw new TaskStateError(`Task ${id} changed to ${now.status} meanwhile: it was not ${verb}`);
    }
    return this.require(id);
  }
}
