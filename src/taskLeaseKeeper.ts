import { LeaseLostError } from './errors';
import type { Logger } from './logger';
import type { RunContext } from './runContext';
import type { TaskHolder, TaskLog } from './taskLog/taskLog';

interface HeldLease {
  attempt: number;
  ctx: RunContext;
  /** performance.now() until which the lease is surely ours: when the last renewal was sent, plus the lease. */
  heldUntil: number;
}

/**
 * Keeps the task-log leases of one runner's runs. Every third of the lease it renews them in one
 * call, never more than one call at a time (a slow database does not pile them up), and aborts
 * the signal of a run whose lease it can no longer hold: taken over by another worker (a newer
 * claim), cancelled by force, or not renewed before it ran out because the log was unreachable.
 * Message leases are the worker's, renewed apart, so a failure of one never skips the other.
 */
export class TaskLeaseKeeper {
  private readonly held = new Map<string, HeldLease>();
  private timer?: NodeJS.Timeout;
  private renewing = false;

  constructor(
    private readonly taskLog: TaskLog,
    private readonly workerId: string,
    private readonly leaseMs: number,
    private readonly logger: Logger,
  ) {}

  /** Starts keeping the lease of a claim; `claimedAt` is when the claim was sent (performance.now()). */
  hold(taskId: string, attempt: number, ctx: RunContext, claimedAt: number): void {
    this.held.set(taskId, { attempt, ctx, heldUntil: claimedAt + this.leaseMs });
    if (!this.timer) {
      this.timer = setInterval(() => void this.tick(), Math.max(10, Math.floor(this.leaseMs / 3)));
      // Runs keep the process alive, not their heartbeat.
      this.timer.unref();
    }
  }

  drop(taskId: string): void {
    this.held.delete(taskId);
  }

  /** The claim under which this runner runs the task, if it does. */
  holderOf(taskId: string): TaskHolder | undefined {
    const lease = this.held.get(taskId);
    return lease ? { workerId: this.workerId, attempt: lease.attempt } : undefined;
  }

  /** Stops the heartbeat (the runs it kept are over or abandoned). */
  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  private async tick(): Promise<void> {
    if (this.held.size === 0) {
      this.stop();
      return;
    }
    if (this.renewing) {
      // The last renewal has not come back (a slow or unreachable log): leases it could not
      // confirm may have run out.
      this.abortExpired();
      return;
    }
    this.renewing = true;
    const batch = [...this.held].map(([id, lease]) => ({ id, attempt: lease.attempt }));
    const sentAt = performance.now();
    try {
      // A lease that lapsed (the event loop was blocked) is still ours if no one claimed the task
      // meanwhile: the renewal says so, by the attempt.
      const kept = new Set(await this.taskLog.renewLeases(this.workerId, batch, this.leaseMs));
      for (const { id, attempt } of batch) {
        const lease = this.held.get(id);
        if (lease?.attempt !== attempt) continue;
        if (kept.has(id)) lease.heldUntil = sentAt + this.leaseMs;
        else lease.ctx.abort(new LeaseLostError(`Task ${id} was cancelled or taken over by another worker`));
      }
    } catch (error) {
      this.logger.warn(`task lease renewal failed: ${(error as Error).message}`, { workerId: this.workerId });
      this.abortExpired();
    } finally {
      this.renewing = false;
    }
  }

  /** Aborts the runs whose lease ran out unrenewed: another worker may run them by now. */
  private abortExpired(): void {
    const now = performance.now();
    for (const [id, lease] of this.held) {
      if (lease.heldUntil < now && !lease.ctx.aborted) {
        this.logger.error(`task ${id}: its lease could not be renewed in time; the run is aborted, as another worker may take the task over`, { taskId: id, workerId: this.workerId });
        lease.ctx.abort(new LeaseLostError(`Task ${id}: its lease could not be renewed before it ran out`));
      }
    }
  }
}
