import { LeaseLostError, TaskCancelledError } from './errors';
import type { Logger } from './logger';
import type { RunContext } from './runContext';
import type { TaskLog } from './taskLog/taskLog';
import { TaskStatus } from './taskStatus';

/** One run's lease, as `hold` returns it; `drop` it when the run is over. */
export interface HeldLease {
  readonly taskId: string;
  readonly attempt: number;
  readonly ctx: RunContext;
  /** performance.now() until which the lease is surely ours: when the last renewal was sent, plus the lease. */
  heldUntil: number;
  dropped: boolean;
}

/** Held leases are kept in an array and compacted past this size (and twice the live ones). */
const COMPACT_AT = 1024;

/**
 * Keeps the task-log leases of one runner's runs. Every third of the lease it renews them in one
 * call, never more than one call at a time (a slow database does not pile them up), and aborts
 * the signal of a run whose lease it can no longer hold: taken over by another worker (a newer
 * claim), cancelled by force, or not renewed before it ran out because the log was unreachable.
 * Message leases are the worker's, renewed apart, so a failure of one never skips the other.
 */
export class TaskLeaseKeeper {
  /**
   * Leases of live runs, and of runs dropped since the last compaction: an array with a flag
   * rather than a Map, because the sync queue holds and drops one per task, hundreds of
   * thousands a second, and a Map's delete is what that path would pay for most.
   */
  private held: HeldLease[] = [];
  private compactAt = COMPACT_AT;
  private timer?: NodeJS.Timeout;
  /** performance.now() when the renewal in flight was sent; undefined when none is. */
  private renewalSentAt?: number;

  constructor(
    private readonly taskLog: TaskLog,
    private readonly workerId: string,
    private readonly leaseMs: number,
    private readonly logger: Logger,
  ) {}

  /** Every third of the lease, so that two renewals may fail before a lease runs out. */
  private get renewEveryMs(): number {
    return Math.max(10, Math.floor(this.leaseMs / 3));
  }

  /** Starts keeping the lease of a claim; `claimedAt` is when the claim was sent (performance.now()). */
  hold(taskId: string, attempt: number, ctx: RunContext, claimedAt: number): HeldLease {
    if (this.held.length >= this.compactAt) this.compact();
    const lease: HeldLease = { taskId, attempt, ctx, heldUntil: claimedAt + this.leaseMs, dropped: false };
    this.held.push(lease);
    if (!this.timer) {
      this.timer = setInterval(() => void this.tick(), this.renewEveryMs);
      // Runs keep the process alive, not their heartbeat.
      this.timer.unref();
    }
    return lease;
  }

  drop(lease: HeldLease): void {
    lease.dropped = true;
  }

  private compact(): void {
    this.held = this.held.filter((lease) => !lease.dropped);
    this.compactAt = Math.max(COMPACT_AT, this.held.length * 2);
  }

  /** Stops the heartbeat (the runs it kept are over or abandoned). */
  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  private async tick(): Promise<void> {
    this.compact();
    if (this.held.length === 0) {
      this.stop();
      return;
    }
    if (this.renewalSentAt !== undefined) {
      // The last renewal has not come back (a slow or unreachable log): leases it could not
      // confirm may have run out.
      this.abortExpired(this.renewalSentAt);
      return;
    }
    const batch = this.held.slice();
    const sentAt = performance.now();
    this.renewalSentAt = sentAt;
    try {
      // A lease that lapsed (the event loop was blocked) is still ours if no one claimed the task
      // meanwhile: the renewal says so, by the attempt.
      const kept = new Set(await this.taskLog.renewLeases(this.workerId, batch.map((l) => ({ id: l.taskId, attempt: l.attempt })), this.leaseMs));
      const lost: HeldLease[] = [];
      for (const lease of batch) {
        if (lease.dropped) continue;
        if (kept.has(lease.taskId)) lease.heldUntil = sentAt + this.leaseMs;
        else lost.push(lease);
      }
      // Rare (a forced cancel or archive, a takeover): one lookup per lost lease tells which, as
      // a cancelled run is over while a taken-over one is another worker's now.
      await Promise.all(lost.map((lease) => this.abortLost(lease)));
    } catch (error) {
      this.logger.warn(`task lease renewal failed: ${(error as Error).message}; renewed again in ${this.renewEveryMs} ms (a run whose lease runs out first is aborted)`, { workerId: this.workerId });
      this.abortExpired();
    } finally {
      this.renewalSentAt = undefined;
    }
  }

  /** Aborts a run whose renewal no longer holds its claim, saying whether it was cancelled by force or taken over. */
  private async abortLost(lease: HeldLease): Promise<void> {
    let status: TaskStatus | null = null;
    try {
      status = await this.taskLog.getStatus(lease.taskId);
    } catch {
      // Unknown: treated as a takeover (the run is not counted as over).
    }
    if (lease.dropped || lease.ctx.aborted) return;
    if (status === TaskStatus.Cancelled || status === TaskStatus.Archived) {
      lease.ctx.abort(new TaskCancelledError(`Task ${lease.taskId} was ${status} by force while it ran`));
    } else {
      lease.ctx.abort(new LeaseLostError(`Task ${lease.taskId} was cancelled or taken over by another worker`));
    }
  }

  /**
   * Aborts the runs whose lease ran out unrenewed: another worker may run them by now. A lease
   * that had run out already when the renewal in flight was sent (its event loop was blocked) is
   * left to that renewal's answer, for up to one lease: the renewal is a compare-and-set on the
   * attempt, so it says for sure whether the task is still this run's, where aborting at once
   * would throw away a run no one took over (and run the task again).
   */
  private abortExpired(renewalSentAt?: number): void {
    const now = performance.now();
    const waitingForAnswer = renewalSentAt !== undefined && now < renewalSentAt + this.leaseMs;
    for (const lease of this.held) {
      if (waitingForAnswer && lease.heldUntil < renewalSentAt) continue;
      if (!lease.dropped && lease.heldUntil < now && !lease.ctx.aborted) {
        const id = lease.taskId;
        this.logger.error(`task ${id}: its lease could not be renewed in time; the run is aborted, as another worker may take the task over`, { taskId: id, taskName: lease.ctx.taskName, workerId: this.workerId });
        lease.ctx.abort(new LeaseLostError(`Task ${id}: its lease could not be renewed before it ran out`));
      }
    }
  }
}
