import type { JsonValue } from '../../src/json';
import type { ReportData } from '../../src/report';
import type { ClaimResult, StatusChange, TaskHolder, TaskLogBroker, UniqueAddResult } from '../../src/taskLog/taskLogBroker';
import type { WorkerHeartbeat, WorkerRecord } from '../../src/taskLog/taskLogBroker';
import type { FinishedCount, PendingCount } from '../../src/taskLog/taskLogBroker';
import type { NewTaskLogEntry, TaskLogEntry } from '../../src/taskLog/taskLogEntry';
import { COLUMN_TYPES, type FilterCondition, TaskLogFilter, compareText, invalidFilter, likeMatcher } from '../../src/taskLog/taskLogFilter';
import { ConfigError, DuplicateTaskIdError } from '../../src/errors';
import { FINAL_STATUSES, TaskStatus } from '../../src/taskStatus';
import { type ClaimLimits, CONCURRENCY_RETRY_MS, rateWaitMs } from '../../src/taskLimits';

export interface InMemoryTaskLogBrokerOptions {
  /**
   * Entries kept at most (default 100,000). Past it the oldest ended ones (completed, failed,
   * cancelled, archived) are forgotten, so a long-lived process on the sync queue does not grow
   * without bound; entries still waiting or running are always kept.
   */
  maxEntries?: number;
}

const FINAL: ReadonlySet<string> = new Set(FINAL_STATUSES);

type DateField = 'leaseUntil' | 'createdAt' | 'updatedAt' | 'startedAt' | 'finishedAt';

/**
 * An entry as kept here: times as epoch ms, not Date objects. A full log holds maxEntries of
 * these, and four fewer heap objects each is what keeps garbage collection of a busy sync queue
 * cheap (with Dates, 100,000 retained entries cost a third of the sync queue's throughput).
 */
type StoredEntry = Omit<TaskLogEntry, DateField | 'report'> & {
  /** As JSON text, as the SQL log stores it: what one returns the other returns too. */
  report: string | null;
  leaseUntil: number | null;
  createdAt: number;
  updatedAt: number;
  startedAt: number | null;
  finishedAt: number | null;
};

const toDate = (ms: number | null): Date | null => (ms === null ? null : new Date(ms));

function toEntry(e: StoredEntry): TaskLogEntry {
  const { parameters, progress } = structuredClone({ parameters: e.parameters, progress: e.progress });
  return {
    ...e,
    parameters,
    report: e.report === null ? null : (JSON.parse(e.report) as ReportData),
    progress,
    leaseUntil: toDate(e.leaseUntil),
    createdAt: new Date(e.createdAt),
    updatedAt: new Date(e.updatedAt),
    startedAt: toDate(e.startedAt),
    finishedAt: toDate(e.finishedAt),
  };
}

/** The task log in this process's memory: for the sync queue, tests, and single-process apps. */
export class InMemoryTaskLogBroker implements TaskLogBroker {
  readonly type = 'memory';
  readonly maxEntries: number;
  private readonly entries = new Map<string, StoredEntry>();
  /** The recent starts of each rate-limited key (ClaimLimits.rate). */
  private readonly starts = new Map<string, number[]>();
  /** Ids of ended entries, oldest first: what eviction may forget, without scanning the rest. */
  private ended: string[] = [];
  private endedHead = 0;
  /** Unique tasks: key -> id of the entry holding it while pending, and back. */
  private readonly uniqueIds = new Map<string, string>();
  private readonly uniqueKeys = new Map<string, string>();
  /** Unique tasks replaced at least once: their revision (0 when absent). */
  private readonly revisions = new Map<string, number>();
  /** The workers' heartbeats, by worker id, with when each was last seen (epoch ms). */
  private readonly workers = new Map<string, { heartbeat: WorkerHeartbeat; lastSeenAt: number }>();

  constructor(options: InMemoryTaskLogBrokerOptions = {}) {
    this.maxEntries = options.maxEntries ?? 100_000;
    if (!Number.isInteger(this.maxEntries) || this.maxEntries < 1) throw new ConfigError(`maxEntries must be an integer >= 1, got ${options.maxEntries}`);
  }

  async createContainer(): Promise<void> {}

  async dropContainer(): Promise<void> {
    this.entries.clear();
    this.ended = [];
    this.endedHead = 0;
    this.uniqueIds.clear();
    this.uniqueKeys.clear();
    this.revisions.clear();
    this.workers.clear();
  }

  async add(entries: readonly NewTaskLogEntry[]): Promise<void> {
    for (const entry of entries) {
      // A plain loop on the sync queue's hot path: the list is made only for the error.
      if (this.entries.has(entry.id)) throw new DuplicateTaskIdError(entries.filter((e) => this.entries.has(e.id)).map((e) => e.id));
    }
    this.store(entries);
  }

  async addUnique(entry: NewTaskLogEntry, uniqueKey: string): Promise<UniqueAddResult> {
    const holder = this.pendingHolder(uniqueKey);
    if (holder !== undefined) return { outcome: 'existing', id: holder };
    if (this.entries.has(entry.id)) throw new DuplicateTaskIdError([entry.id]);
    this.store([entry]);
    this.uniqueIds.set(uniqueKey, entry.id);
    this.uniqueKeys.set(entry.id, uniqueKey);
    return { outcome: 'added' };
  }

  async replaceUnique(uniqueKey: string, parameters: JsonValue): Promise<{ id: string; revision: number } | null> {
    const id = this.pendingHolder(uniqueKey);
    const entry = id === undefined ? undefined : this.entries.get(id);
    if (id === undefined || !entry) return null;
    const revision = (this.revisions.get(id) ?? 0) + 1;
    this.revisions.set(id, revision);
    entry.parameters = structuredClone(parameters);
    entry.updatedAt = Date.now();
    return { id, revision };
  }

  async takeUnique(id: string, revision: number): Promise<boolean> {
    if ((this.revisions.get(id) ?? 0) > revision) return false;
    this.releaseKey(id);
    return true;
  }

  /** The entry holding `uniqueKey` if it is still pending; a stale holding is dropped. */
  private pendingHolder(uniqueKey: string): string | undefined {
    const id = this.uniqueIds.get(uniqueKey);
    if (id === undefined) return undefined;
    const status = this.entries.get(id)?.status;
    if (status === TaskStatus.Enqueued || status === TaskStatus.Dequeued) return id;
    this.releaseKey(id);
    return undefined;
  }

  private releaseKey(id: string): void {
    const key = this.uniqueKeys.get(id);
    if (key === undefined) return;
    this.uniqueKeys.delete(id);
    if (this.uniqueIds.get(key) === id) this.uniqueIds.delete(key);
  }

  async addIfMissing(entries: readonly NewTaskLogEntry[]): Promise<void> {
    this.store(entries.filter((e) => !this.entries.has(e.id)));
  }

  private store(entries: readonly NewTaskLogEntry[]): void {
    for (const e of entries) {
      const created = e.createdAt.getTime();
      // Spelled out rather than spread: this is the hot path of the sync queue.
      this.entries.set(e.id, {
        id: e.id,
        parentId: e.parentId,
        taskName: e.taskName,
        label: e.label,
        status: e.status,
        owner: e.owner,
        queue: e.queue,
        parameters: e.parameters,
        report: e.report ? JSON.stringify(e.report) : null,
        progress: null,
        attempts: 0,
        stalls: 0,
        workerId: null,
        leaseUntil: null,
        createdAt: created,
        updatedAt: created,
        startedAt: null,
        finishedAt: e.status === TaskStatus.Failed ? created : null,
        archivedFrom: null,
      });
      if (FINAL.has(e.status)) this.ended.push(e.id);
    }
    this.evict();
  }

  /**
   * Forgets the entries that ended first, down to maxEntries; trims in steps of a tenth so the
   * work is paid once per many adds. Entries still waiting or running are never forgotten.
   */
  private evict(): void {
    if (this.entries.size <= this.maxEntries + Math.ceil(this.maxEntries / 10)) return;
    let excess = this.entries.size - this.maxEntries;
    while (excess > 0 && this.endedHead < this.ended.length) {
      const id = this.ended[this.endedHead++];
      const entry = this.entries.get(id);
      // Skipped if gone, or no longer ended (a forced archive of an ended task keeps it ended).
      if (entry && FINAL.has(entry.status)) {
        this.entries.delete(id);
        this.revisions.delete(id);
        excess--;
      }
    }
    if (this.endedHead > 4096 && this.endedHead * 2 > this.ended.length) {
      this.ended = this.ended.slice(this.endedHead);
      this.endedHead = 0;
    }
  }

  async markDequeued(ids: readonly string[]): Promise<void> {
    const now = Date.now();
    for (const id of ids) {
      const entry = this.entries.get(id);
      if (entry?.status === TaskStatus.Enqueued || entry?.status === TaskStatus.Dequeued) {
        entry.status = TaskStatus.Dequeued;
        entry.updatedAt = now;
      }
    }
  }

  async claim(id: string, workerId: string, leaseMs: number, ifMissing?: NewTaskLogEntry, limits?: ClaimLimits): Promise<ClaimResult> {
    if (ifMissing && !this.entries.has(id)) this.store([{ ...ifMissing, status: TaskStatus.Enqueued }]);
    const entry = this.entries.get(id);
    if (!entry) return { outcome: 'missing' };
    const now = Date.now();
    const stalled = entry.status === TaskStatus.Running && entry.leaseUntil !== null && entry.leaseUntil < now;
    if (entry.status === TaskStatus.Enqueued || entry.status === TaskStatus.Dequeued || stalled) {
      if (limits) {
        const retryAfterMs = Math.max(this.rateWait(limits, now), limits.concurrency && this.runningNamed(limits.concurrency.taskName, id, now) >= limits.concurrency.max ? CONCURRENCY_RETRY_MS : 0);
        if (retryAfterMs > 0) return { outcome: 'limited', retryAfterMs };
        if (limits.rate) this.starts.get(limits.rate.key)?.push(now);
      }
      entry.status = TaskStatus.Running;
      entry.workerId = workerId;
      entry.leaseUntil = now + leaseMs;
      entry.attempts += 1;
      if (stalled) entry.stalls += 1;
      entry.startedAt = now;
      entry.updatedAt = now;
      return { outcome: 'claimed', attempt: entry.attempts, stalls: entry.stalls, tookOver: stalled };
    }
    if (entry.status === TaskStatus.Running) return { outcome: 'busy', retryAfterMs: Math.max(0, (entry.leaseUntil ?? now) - now) };
    return { outcome: 'not-runnable', status: entry.status };
  }

  /** 0 when a start fits the rate window now, else the ms to wait; forgets starts out of the window. */
  private rateWait(limits: ClaimLimits, now: number): number {
    if (!limits.rate) return 0;
    const { key, perMs } = limits.rate;
    const kept = (this.starts.get(key) ?? []).filter((at) => at > now - perMs);
    this.starts.set(key, kept);
    return rateWaitMs(kept, limits.rate, now);
  }

  /**
   * Entries of `taskName` running under a live lease, `id` aside. A scan, made only for tasks with
   * a maxConcurrent: counting on every status change would cost every task the sync queue runs.
   */
  private runningNamed(taskName: string, id: string, now: number): number {
    let n = 0;
    for (const entry of this.entries.values()) {
      if (entry.status === TaskStatus.Running && entry.taskName === taskName && entry.id !== id && (entry.leaseUntil ?? 0) >= now) n++;
    }
    return n;
  }

  async renewLeases(workerId: string, claims: readonly { id: string; attempt: number }[], leaseMs: number): Promise<string[]> {
    const kept: string[] = [];
    const until = Date.now() + leaseMs;
    for (const { id, attempt } of claims) {
      const entry = this.entries.get(id);
      if (entry && holds(entry, { workerId, attempt })) {
        entry.leaseUntil = until;
        kept.push(id);
      }
    }
    return kept;
  }

  async changeStatus(id: string, change: StatusChange): Promise<boolean> {
    const entry = this.entries.get(id);
    if (!entry || !change.from.includes(entry.status)) return false;
    if (change.holder && !holds(entry, change.holder)) return false;
    const now = Date.now();
    if (FINAL.has(change.to) && !FINAL.has(entry.status)) this.ended.push(id);
    if (change.to === TaskStatus.Archived) entry.archivedFrom = entry.status;
    // A key is held while pending only: a task cancelled before it started, then rerun, holds none.
    if (this.uniqueKeys.size > 0 && change.to !== TaskStatus.Enqueued && change.to !== TaskStatus.Dequeued) this.releaseKey(id);
    entry.status = change.to;
    entry.updatedAt = now;
    if (change.report !== undefined) entry.report = change.report;
    if (change.finished) entry.finishedAt = now;
    if (change.finished || change.releaseLease) entry.leaseUntil = null;
    if (change.releaseLease) entry.workerId = null;
    if (change.undoClaim) {
      entry.attempts -= 1;
      if (change.undoClaim.tookOver) entry.stalls -= 1;
    }
    return true;
  }

  async setProgress(id: string, holder: TaskHolder, progress: JsonValue): Promise<void> {
    const entry = this.entries.get(id);
    if (entry && holds(entry, holder)) {
      entry.progress = progress;
      entry.updatedAt = Date.now();
    }
  }

  async get(id: string): Promise<TaskLogEntry | null> {
    const entry = this.entries.get(id);
    return entry ? toEntry(entry) : null;
  }

  async search(filter: TaskLogFilter): Promise<TaskLogEntry[]> {
    const { conditions, sorts, limit, offset = 0 } = TaskLogFilter.snapshot(filter);
    const order = sorts.map(({ column, direction }) => ({
      column: checkColumn(column),
      sign: direction === 'asc' ? 1 : direction === 'desc' ? -1 : invalidFilter('direction', direction),
    }));
    const rows = this.match(conditions).sort((a, b) => {
      for (const { column, sign } of order) {
        const c = compare(valueOf(a, column), valueOf(b, column));
        if (c !== 0) return sign * c;
      }
      return 0;
    });
    return rows.slice(offset, limit === undefined ? undefined : offset + limit).map(toEntry);
  }

  async count(filter: TaskLogFilter): Promise<number> {
    return this.match(TaskLogFilter.snapshot(filter).conditions).length;
  }

  async countByStatus(filter: TaskLogFilter): Promise<Partial<Record<TaskStatus, number>>> {
    const counts: Partial<Record<TaskStatus, number>> = {};
    for (const entry of this.match(TaskLogFilter.snapshot(filter).conditions)) counts[entry.status] = (counts[entry.status] ?? 0) + 1;
    return counts;
  }

  async pendingCounts(): Promise<PendingCount[]> {
    const groups = new Map<string, PendingCount & { oldest: number }>();
    for (const entry of this.entries.values()) {
      const running = entry.status === TaskStatus.Running;
      if (!running && entry.status !== TaskStatus.Enqueued && entry.status !== TaskStatus.Dequeued) continue;
      // NUL cannot be in a queue name: it keeps "no queue" apart from every name.
      const key = `${entry.queue ?? '\u0000'}\u0000${entry.taskName}`;
      let group = groups.get(key);
      if (!group) {
        group = { queue: entry.queue, taskName: entry.taskName, waiting: 0, running: 0, oldestWaitingAt: null, oldest: Infinity };
        groups.set(key, group);
      }
      if (running) group.running++;
      else {
        group.waiting++;
        group.oldest = Math.min(group.oldest, entry.createdAt);
      }
    }
    return [...groups.values()].map(({ oldest, ...group }) => ({ ...group, oldestWaitingAt: oldest === Infinity ? null : new Date(oldest) }));
  }

  async countFinished(filter: TaskLogFilter, since: Date, intervalMs: number, count: number): Promise<FinishedCount[]> {
    const from = since.getTime();
    const until = from + count * intervalMs;
    const intervals = new Map<number, FinishedCount>();
    for (const entry of this.match(TaskLogFilter.snapshot(filter).conditions)) {
      const failed = entry.status === TaskStatus.Failed;
      if ((!failed && entry.status !== TaskStatus.Completed) || entry.finishedAt === null || entry.finishedAt < from || entry.finishedAt >= until) continue;
      const start = from + Math.floor((entry.finishedAt - from) / intervalMs) * intervalMs;
      let interval = intervals.get(start);
      if (!interval) {
        interval = { start: new Date(start), completed: 0, failed: 0 };
        intervals.set(start, interval);
      }
      if (failed) interval.failed++;
      else interval.completed++;
    }
    return [...intervals.values()];
  }

  async prune(olderThan: Date, statuses: readonly TaskStatus[]): Promise<number> {
    const wanted: ReadonlySet<string> = new Set(statuses);
    const before = olderThan.getTime();
    let pruned = 0;
    for (const [id, entry] of this.entries) {
      if (!wanted.has(entry.status) || (entry.finishedAt ?? entry.updatedAt) >= before) continue;
      // The eviction list keeps the id: it skips ids that are gone.
      this.entries.delete(id);
      this.revisions.delete(id);
      this.releaseKey(id);
      pruned++;
    }
    return pruned;
  }

  async recordWorker(heartbeat: WorkerHeartbeat): Promise<void> {
    const known = this.workers.get(heartbeat.id);
    // As on SQL: the start time of the first beat is kept.
    const startedAt = known ? known.heartbeat.startedAt : new Date(heartbeat.startedAt.getTime());
    this.workers.set(heartbeat.id, { heartbeat: { ...heartbeat, queues: [...heartbeat.queues], startedAt }, lastSeenAt: Date.now() });
  }

  async listWorkers(): Promise<WorkerRecord[]> {
    const now = Date.now();
    return [...this.workers.values()]
      .sort((a, b) => a.heartbeat.startedAt.getTime() - b.heartbeat.startedAt.getTime() || (a.heartbeat.id < b.heartbeat.id ? -1 : 1))
      .map(({ heartbeat, lastSeenAt }) => ({ ...heartbeat, queues: [...heartbeat.queues], startedAt: new Date(heartbeat.startedAt.getTime()), lastSeenAt: new Date(lastSeenAt), sinceSeenMs: now - lastSeenAt }));
  }

  async removeWorkers(olderThanMs: number): Promise<number> {
    const before = Date.now() - olderThanMs;
    let removed = 0;
    for (const [id, { lastSeenAt }] of this.workers) {
      if (lastSeenAt < before && this.workers.delete(id)) removed++;
    }
    return removed;
  }

  describe() {
    return { type: this.type };
  }

  async close(): Promise<void> {}

  private match(conditions: readonly FilterCondition[]): StoredEntry[] {
    const tests = conditions.map(predicate);
    const out: StoredEntry[] = [];
    for (const entry of this.entries.values()) if (tests.every((t) => t(entry))) out.push(entry);
    return out;
  }
}

/** The fencing rule: still running under this very claim. */
function holds(entry: StoredEntry, holder: TaskHolder): boolean {
  return entry.status === TaskStatus.Running && entry.workerId === holder.workerId && entry.attempts === holder.attempt;
}

type Comparable = string | number | null;

/** Checked although the snapshot was validated: an unknown name would read undefined, not fail. */
function checkColumn(column: FilterCondition['column']): FilterCondition['column'] {
  return Object.hasOwn(COLUMN_TYPES, column) ? column : invalidFilter('column', column);
}

/** Times are stored as epoch ms, as the filter gives them. */
function valueOf(entry: StoredEntry, column: FilterCondition['column']): Comparable {
  return entry[column] as Comparable;
}

/** SQL's order on the SQL brokers: NULLs first ascending, text by code point. */
function compare(a: Comparable, b: Comparable): number {
  if (a === b) return 0;
  if (a === null) return -1;
  if (b === null) return 1;
  if (typeof a === 'string' && typeof b === 'string') return compareText(a, b);
  return a < b ? -1 : 1;
}

function predicate(condition: FilterCondition): (entry: StoredEntry) => boolean {
  const column = checkColumn(condition.column);
  // SQL semantics: comparisons with NULL match nothing, except eq/neq null (IS [NOT] NULL).
  switch (condition.operator) {
    case 'eq': {
      const { value } = condition;
      return (e) => valueOf(e, column) === value;
    }
    case 'neq': {
      const { value } = condition;
      return value === null ? (e) => valueOf(e, column) !== null : (e) => { const v = valueOf(e, column); return v !== null && v !== value; };
    }
    case 'lt':
    case 'lte':
    case 'gt':
    case 'gte': {
      const { operator, value } = condition;
      const holds = operator === 'lt' ? (c: number) => c < 0 : operator === 'lte' ? (c: number) => c <= 0 : operator === 'gt' ? (c: number) => c > 0 : (c: number) => c >= 0;
      return (e) => { const v = valueOf(e, column); return v !== null && holds(compare(v, value)); };
    }
    case 'like': {
      const matches = likeMatcher(condition.value);
      return (e) => { const v = valueOf(e, column); return typeof v === 'string' && matches(v); };
    }
    case 'in': {
      const values = new Set<Comparable>(condition.values);
      return (e) => { const v = valueOf(e, column); return v !== null && values.has(v); };
    }
    case 'notIn': {
      const values = new Set<Comparable>(condition.values);
      return (e) => { const v = valueOf(e, column); return v !== null && !values.has(v); };
    }
    default:
      // Never skipped: a condition left out would match every entry.
      return invalidFilter('operator', (condition as { operator?: unknown }).operator);
  }
}

