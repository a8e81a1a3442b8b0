import type { JsonValue } from '../json';
import type { ClaimLimits } from '../taskLimits';
import type { TaskStatus } from '../taskStatus';
import type { NewTaskLogEntry, TaskLogEntry } from './taskLogEntry';
import type { TaskLogFilter } from './taskLogFilter';

/**
 * Who runs a task: the worker and the attempt its claim counted. The attempt is the fencing token:
 * every claim counts one more, so a run whose lease lapsed and was claimed again (even by the same
 * worker) can no longer renew, report progress, or write its result.
 */
export interface TaskHolder {
  workerId: string;
  attempt: number;
}

/** What addUnique did: added the entry, or found the pending task that holds the key. */
export type UniqueAddResult = { outcome: 'added' } | { outcome: 'existing'; id: string };

/** What `claim` found. Only `claimed` lets the caller run the task. */
export type ClaimResult =
  /**
   * `stalls`: claims that took the task over from a run whose lease had run out (this one
   * included); `tookOver`: this claim is one of them (a Worker's `stalled` event).
   */
  | { outcome: 'claimed'; attempt: number; stalls: number; tookOver: boolean }
  /** Another worker holds a live lease on it: leave it alone for `retryAfterMs` (the lease left). */
  | { outcome: 'busy'; retryAfterMs: number }
  /** Running it now would break a limit (ClaimLimits): leave it for `retryAfterMs`. */
  | { outcome: 'limited'; retryAfterMs: number }
  /** It may not run in this status (completed, failed, cancelled, archived, child_running). */
  | { outcome: 'not-runnable'; status: TaskStatus }
  | { outcome: 'missing' };

/** How many tasks of one name wait on one queue (enqueued or dequeued) and how many run. */
export interface PendingCount {
  /** Null for entries written without a queue (a batch's or a parent's own entry). */
  queue: string | null;
  taskName: string;
  /** Enqueued or dequeued: not taken by a worker yet. */
  waiting: number;
  running: number;
  /** When the oldest waiting one was created; null when none waits. */
  oldestWaitingAt: Date | null;
}

/** The tasks that ended in one interval of time (by finishedAt), as completed or as failed. */
export interface FinishedCount {
  /** The interval's start; it lasts the intervalMs asked for. */
  start: Date;
  completed: number;
  failed: number;
}

/** A compare-and-set on one entry's status. */
export interface StatusChange {
  /** Applies only while the entry's status is one of these. */
  from: readonly TaskStatus[];
  to: TaskStatus;
  /** Applies only while this claim holds the task (same worker, same attempt). */
  holder?: TaskHolder;
  /** The report as JSON text (serialised once by the caller, so every broker stores the same). */
  report?: string | null;
  /** Sets finishedAt and drops the lease. */
  finished?: boolean;
  /** Drops worker and lease (back to the queue, e.g. for a retry). */
  releaseLease?: boolean;
  /**
   * Undoes the claim `holder` made, its run never started (a worker that claimed ahead gives the
   * task back): one attempt less, and one stall less when that claim took the task over.
   */
  undoClaim?: { tookOver: boolean };
}

/**
 * The storage contract of the task log (brokers/memory, brokers/rds). Every status change is a
 * compare-and-set, so two workers can never both move one task to running. Lease times come from
 * the broker's own clock (the database's, for SQL), never from the caller's: hosts whose clocks
 * disagree still agree on when a lease ends.
 */
export interface TaskLogBroker {
  readonly type: string;
  createContainer(): Promise<void>;
  dropContainer(): Promise<void>;

  /** Adds new entries; an id already present is an error, and then none is added. */
  add(entries: readonly NewTaskLogEntry[]): Promise<void>;
  /** Adds the entries whose id is not present yet; leaves the others as they are. */
  addIfMissing(entries: readonly NewTaskLogEntry[]): Promise<void>;
  /** Moves the `enqueued` and `dequeued` ones among `ids` to `dequeued`, as of now (updatedAt). */
  markDequeued(ids: readonly string[]): Promise<void>;
  /**
   * Moves the entry to `running` for `workerId`, leased for `leaseMs`, counting an attempt, if it
   * is enqueued, dequeued, or running under a lease that has run out (a stall, counted too).
   * With `ifMissing`, a task that has no entry gets this one, claimed at once (attempt 1): the
   * worker of a queue whose enqueue writes the message before the log entry often gets there first.
   * With `limits`, the claim applies only within them (a queue's rate, a task's maxConcurrent),
   * checked and counted atomically with it across every process sharing the log; else `limited`.
   */
  claim(id: string, workerId: string, leaseMs: number, ifMissing?: NewTaskLogEntry, limits?: ClaimLimits): Promise<ClaimResult>;
  /** Extends by `leaseMs` the leases that `workerId` still holds under these claims; returns their ids. */
  renewLeases(workerId: string, claims: readonly { id: string; attempt: number }[], leaseMs: number): Promise<string[]>;
  /**
   * Returns true when the change applied. Moving an entry to `archived` keeps the status it had
   * in `archivedFrom`.
   */
  changeStatus(id: string, change: StatusChange): Promise<boolean>;
  setProgress(id: string, holder: TaskHolder, progress: JsonValue): Promise<void>;

  get(id: string): Promise<TaskLogEntry | null>;
  search(filter: TaskLogFilter): Promise<TaskLogEntry[]>;
  count(filter: TaskLogFilter): Promise<number>;
  /** Entries per status among those the filter matches; absent statuses may be left out. */
  countByStatus(filter: TaskLogFilter): Promise<Partial<Record<TaskStatus, number>>>;
  /** The waiting and running entries, counted per queue and task name (one group per pair that has any). */
  pendingCounts(): Promise<PendingCount[]>;
  /**
   * The entries the filter matches that are completed or failed, counted by when they finished
   * (finishedAt) in each of `intervals` intervals of `intervalMs`, the first starting at
   * `since`. Intervals with none may be left out; archived entries are not counted.
   */
  countFinished(filter: TaskLogFilter, since: Date, intervalMs: number, intervals: number): Promise<FinishedCount[]>;
  /**
   * Deletes the entries in one of `statuses` (final ones only: the caller checks) that ended
   * before `olderThan` (finishedAt, else updatedAt); returns how many. A big delete goes in
   * bounded chunks, so it never holds the table for long.
   */
  prune(olderThan: Date, statuses: readonly TaskStatus[]): Promise<number>;

  /**
   * Optional, for unique tasks (enqueue option `uniqueKey`): adds the entry holding `uniqueKey`,
   * unless a pending entry (enqueued or dequeued, not yet taken by a worker) already holds it:
   * then nothing is added and its id is returned. Of concurrent calls with one key, one adds.
   * An id already present (under any key or none) is a DuplicateTaskIdError.
   */
  addUnique?(entry: NewTaskLogEntry, uniqueKey: string): Promise<UniqueAddResult>;
  /**
   * Optional, with addUnique: gives the pending entry holding `uniqueKey` these parameters and
   * the next revision, unless a worker has taken it meanwhile. Null when no pending entry holds it.
   * `superseded`: a concurrent replace of the key won; this one counts as done just before it (its
   * params overwritten): nothing was written, and no message is to be sent for it.
   */
  replaceUnique?(uniqueKey: string, parameters: JsonValue): Promise<{ id: string; revision: number; superseded?: true } | null>;
  /**
   * Optional, with addUnique: a worker takes a unique task whose message carries `revision`, so
   * its key no longer holds (a later enqueue of the key makes a new task). False, with nothing
   * changed, when the entry was replaced since (a newer revision): that message is stale.
   */
  takeUnique?(id: string, revision: number): Promise<boolean>;

  /**
   * Optional: calls `onEnded` when entries reach a final status, in any process (PostgreSQL's
   * LISTEN/NOTIFY), with their ids, or none when it cannot tell which (look at every one). Resolves
   * with the unsubscribe, or undefined when this broker cannot notify (waits then poll).
   */
  watchEnds?(onEnded: (ids?: readonly string[]) => void): Promise<(() => Promise<void>) | undefined>;

  /**
   * Optional, worker supervision: stores the worker's heartbeat, one row per worker id (an
   * upsert), its `lastSeenAt` now on the broker's own clock (the database's, for SQL).
   */
  recordWorker?(heartbeat: WorkerHeartbeat): Promise<void>;
  /** Optional, with recordWorker: every worker row, oldest start first. */
  listWorkers?(): Promise<WorkerRecord[]>;
  /** Optional, with recordWorker: drops the rows not seen for `olderThanMs`; returns how many. */
  removeWorkers?(olderThanMs: number): Promise<number>;

  describe(): { type: string; [option: string]: string | number | boolean | undefined };
  close(): Promise<void>;
}

/** What a worker says of itself: `stopped` once it has ended. */
export type WorkerRunStatus = 'running' | 'paused' | 'stopping' | 'stopped';

/** A worker's heartbeat, as it writes it (see Worker's `heartbeatMs`). */
export interface WorkerHeartbeat {
  /** The worker's id (Worker.id). */
  id: string;
  host: string;
  pid: number;
  /** The names of the queues it consumes. */
  queues: string[];
  startedAt: Date;
  /** Runs it finished: completed, failed or retried. */
  tasksRun: number;
  status: WorkerRunStatus;
  /** How often it writes its heartbeat: it counts as alive for three of these. */
  heartbeatMs: number;
}

/** A worker's row as stored. */
export interface WorkerRecord extends WorkerHeartbeat {
  /** Its last heartbeat, on the broker's clock. */
  lastSeenAt: Date;
  /** Milliseconds since its last heartbeat, on the broker's clock (so hosts' clocks need not agree). */
  sinceSeenMs: number;
}

