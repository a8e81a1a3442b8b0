import { TaskWaitTimeoutError } from '../errors';
import { FINAL_STATUSES } from '../taskStatus';
import type { TaskLogEntry } from './taskLogEntry';
import { TaskLogFilter } from './taskLogFilter';

/** What the watcher reads: the log's search. */
export interface EndedEntrySource {
  search(filter: TaskLogFilter): Promise<TaskLogEntry[]>;
}

export interface WaitForEndOptions {
  /** Give up after this long: rejects with TaskWaitTimeoutError (the tasks go on). */
  timeoutMs?: number;
  signal?: AbortSignal;
}

export interface TaskEndWatcherOptions {
  /** The first look after a wait begins or nothing was found, in ms (default 5). */
  minPollMs?: number;
  /** The poll doubles up to this (default 250; a log whose broker notifies ends can afford more). */
  maxPollMs?: number;
}

interface Waiter {
  ids: readonly string[];
  found: Map<string, TaskLogEntry>;
  resolve(entries: TaskLogEntry[]): void;
  reject(error: unknown): void;
  /** Detaches the timer and the abort listener. */
  dispose(): void;
}

/** Ids per lookup: well under every database's limit on bound parameters. */
const CHUNK = 500;

/**
 * Waits for tasks to reach a final status, for every caller of one task log in this process.
 * One loop looks every awaited id up at once (a query per 500 ids): at once when something may
 * have ended (`poke`: a task ended in this process, a notification from the broker), otherwise on
 * a poll that starts at `minPollMs` and doubles to `maxPollMs` while nothing ends.
 */
export class TaskEndWatcher {
  private readonly waiters = new Map<string, Set<Waiter>>();
  private readonly minPollMs: number;
  private maxPollMs: number;
  private pollMs: number;
  private timer: NodeJS.Timeout | undefined;
  private timerDue = Infinity;
  private looking: Promise<void> | undefined;
  /** A poke came while a lookup was under way: its snapshot may predate the end, look again. */
  private lookAgain = false;

  constructor(
    private readonly source: EndedEntrySource,
    options: TaskEndWatcherOptions = {},
  ) {
    this.minPollMs = options.minPollMs ?? 5;
    this.maxPollMs = options.maxPollMs ?? 250;
    this.pollMs = this.minPollMs;
  }

  /** Resolves with the entries of `ids` (in that order) once every one of them is final. */
  wait(ids: readonly string[], options: WaitForEndOptions = {}): Promise<TaskLogEntry[]> {
    if (ids.length === 0) return Promise.resolve([]);
    options.signal?.throwIfAborted();
    return new Promise<TaskLogEntry[]>((resolve, reject) => {
      let timeout: NodeJS.Timeout | undefined;
      const onAbort = () => this.settle(waiter, options.signal?.reason ?? new Error('aborted'));
      const waiter: Waiter = {
        ids: [...ids],
        found: new Map(),
        resolve,
        reject,
        dispose: () => {
          clearTimeout(timeout);
          options.signal?.removeEventListener('abort', onAbort);
        },
      };
      if (options.timeoutMs !== undefined) {
        timeout = setTimeout(() => {
          const pending = waiter.ids.filter((id) => !waiter.found.has(id));
          this.settle(waiter, new TaskWaitTimeoutError(pending, options.timeoutMs as number));
        }, options.timeoutMs);
      }
      options.signal?.addEventListener('abort', onAbort, { once: true });
      for (const id of waiter.ids) {
        let set = this.waiters.get(id);
        if (!set) this.waiters.set(id, (set = new Set()));
        set.add(waiter);
      }
      this.poke();
    });
  }

  /**
   * Something may have ended: look now (or right after the lookup under way). With `ids` (what a
   * notification named), only when one of them is awaited.
   */
  poke(ids?: readonly string[]): void {
    if (this.waiters.size === 0) return;
    if (ids && !ids.some((id) => this.waiters.has(id))) return;
    this.pollMs = this.minPollMs;
    if (this.looking) {
      this.lookAgain = true;
      return;
    }
    this.schedule(0);
  }

  /** Ends are announced (LISTEN/NOTIFY): the poll is only a safety net, and may slow to `ms`. */
  notified(ms: number): void {
    this.maxPollMs = Math.max(this.maxPollMs, ms);
  }

  /** Rejects every wait under way (the log is closing). */
  close(reason: Error): void {
    for (const waiter of new Set([...this.waiters.values()].flatMap((set) => [...set]))) this.settle(waiter, reason);
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  private schedule(ms: number): void {
    const due = Date.now() + ms;
    if (this.timer && this.timerDue <= due) return;
    clearTimeout(this.timer);
    this.timerDue = due;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.timerDue = Infinity;
      this.looking = this.look().finally(() => {
        this.looking = undefined;
        if (this.waiters.size === 0) return;
        if (this.lookAgain) {
          this.lookAgain = false;
          this.schedule(0);
        } else {
          this.schedule(this.pollMs);
          this.pollMs = Math.min(this.pollMs * 2, this.maxPollMs);
        }
      });
    }, ms);
  }

  private async look(): Promise<void> {
    const ids = [...this.waiters.keys()];
    for (let i = 0; i < ids.length; i += CHUNK) {
      let ended: TaskLogEntry[];
      try {
        ended = await this.source.search(new TaskLogFilter().in('id', ids.slice(i, i + CHUNK)).in('status', FINAL_STATUSES));
      } catch {
        // The log is unreachable for now: the next poll tries again (waits have their own timeouts).
        return;
      }
      for (const entry of ended) this.found(entry);
    }
  }

  private found(entry: TaskLogEntry): void {
    const set = this.waiters.get(entry.id);
    if (!set) return;
    this.waiters.delete(entry.id);
    for (const waiter of set) {
      waiter.found.set(entry.id, entry);
      if (waiter.found.size === new Set(waiter.ids).size) {
        waiter.dispose();
        waiter.resolve(waiter.ids.map((id) => waiter.found.get(id) as TaskLogEntry));
      }
    }
  }

  private settle(waiter: Waiter, error: unknown): void {
    waiter.dispose();
    for (const id of waiter.ids) {
      const set = this.waiters.get(id);
      set?.delete(waiter);
      if (set?.size === 0) this.waiters.delete(id);
    }
    waiter.reject(error);
  }
}
