import type { JsonValue } from '../json';
import type { ReportData } from '../report';
import type { TaskStatus } from '../taskStatus';
import type { NewTaskLogEntry, TaskLogEntry } from './taskLogEntry';
import type { TaskLogFilter } from './taskLogFilter';

/** What `claim` found. Only `claimed` lets the caller run the task. */
export type ClaimResult =
  | { outcome: 'claimed'; attempt: number }
  /** Another worker holds a live lease on it: leave it alone until then. */
  | { outcome: 'busy'; leaseUntil: Date }
  /** It may not run in this status (completed, failed, cancelled, archived, child_running). */
  | { outcome: 'not-runnable'; status: TaskStatus }
  | { outcome: 'missing' };

/** A compare-and-set on one entry's status. */
export interface StatusChange {
  /** Applies only while the entry's status is one of these. */
  from: readonly TaskStatus[];
  to: TaskStatus;
  /** Applies only while this worker holds the task (its running lease). */
  workerId?: string;
  report?: ReportData | null;
  /** Sets finishedAt and drops the lease. */
  finished?: boolean;
  /** Drops worker and lease (back to the queue, e.g. for a retry). */
  releaseLease?: boolean;
}

/**
 * The storage contract of the task log (brokers/memory, brokers/rds). Every status change is a
 * compare-and-set, so two workers can never both move one task to running.
 */
export interface TaskLogBroker {
  readonly type: string;
  createContainer(): Promise<void>;
  dropContainer(): Promise<void>;

  add(entries: readonly NewTaskLogEntry[]): Promise<void>;
  /** Moves the `enqueued` ones among `ids` to `dequeued`. */
  markDequeued(ids: readonly string[]): Promise<void>;
  /**
   * Moves the entry to `running` for `workerId` until `leaseUntil`, counting an attempt, if it is
   * enqueued, dequeued, or running under a lease that ended before `now`.
   */
  claim(id: string, workerId: string, leaseUntil: Date, now: Date): Promise<ClaimResult>;
  /** Extends the leases `workerId` still holds among `ids`; returns those ids. */
  renewLeases(ids: readonly string[], workerId: string, leaseUntil: Date): Promise<string[]>;
  /** Returns true when the change applied. */
  changeStatus(id: string, change: StatusChange): Promise<boolean>;
  setProgress(id: string, workerId: string, progress: JsonValue): Promise<void>;

  get(id: string): Promise<TaskLogEntry | null>;
  search(filter: TaskLogFilter): Promise<TaskLogEntry[]>;
  count(filter: TaskLogFilter): Promise<number>;
  /** Entries per status among those the filter matches; absent statuses may be left out. */
  countByStatus(filter: TaskLogFilter): Promise<Partial<Record<TaskStatus, number>>>;

  describe(): { type: string; [option: string]: string | number | boolean | undefined };
  close(): Promise<void>;
}
