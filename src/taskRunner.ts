import { randomUUID } from 'node:crypto';
import { LeaseLostError, TaskCancelledError, TaskFaultError, TaskTimeoutError, TaskqError, UnknownTaskError } from './errors';
import { decidePrerequisites } from './prerequisites';
import type { ClaimLimits } from './taskLimits';
import type { JsonValue } from './json';
import type { Logger } from './logger';
import type { Queue } from './queue';
import type { ReceivedMessage } from './queueBroker';
import { Report } from './report';
import type { TaskLog } from './taskLog/taskLog';
import type { NewTaskLogEntry } from './taskLog/taskLogEntry';
import type { ClaimResult, StatusChange } from './taskLog/taskLogBroker';
import { type TaskMessage, decodeTaskMessage, peekTaskId } from './taskMessage';
import type { TaskRegistry } from './taskRegistry';
import { RunContext, type RunContextDeps } from './runContext';
import { RunState, tracingRuns } from './runTracing';
import { type AbstractTask, type TaskClass, type TaskResult, backoffDelay } from './task';
import { PENDING_STATUSES, TaskStatus } from './taskStatus';
import { type HeldLease, TaskLeaseKeeper } from './taskLeaseKeeper';
import { type WorkerEventEmitter, type WorkerEvents, emitWorkerEvent } from './workerEvents';

/** What the runner does with the message once it is done with it. */
export interface MessageHandle {
  acknowledge(): Promise<void>;
  release(delayMs: number): Promise<void>;
  /**
   * The broker moves the message to its dead-letter queue rather than deliver it again (SQS's
   * maxReceiveCount reached): a run that would be retried fails instead, saying so.
   */
  readonly lastDelivery?: boolean;
  /**
   * The task's code is over; what is left is writing its outcome, then acknowledging or releasing
   * the message. A worker may start its next task meanwhile, so that the next claim shares a
   * write (and, on SQLite, a commit) with this result instead of waiting for it.
   */
  runEnded?(): void;
}

/**
 * How one delivery ended. `retry`, `busy`, `deferred`, `lost-lease` and `cancelled` (a run
 * aborted because its task was cancelled or archived by force) released the message; every other
 * acknowledged it.
 */
export type DeliveryOutcome =
  | 'completed'
  | 'failed'
  | 'retry'
  | 'child_running'
  | 'busy'
  | 'deferred'
  | 'not-runnable'
  | 'lost-lease'
  | 'cancelled';

export interface TaskRunnerOptions {
  registry: TaskRegistry;
  taskLog: TaskLog;
  logger: Logger;
  workerId: string;
  leaseMs: number;
  /**
   * How long a message naming a task this process does not know is left for another worker
   * (during a rolling deploy, an older worker meets a newer task) before it fails. 0: at once.
   */
  unknownTaskGraceMs?: number;
  /** The limits a claim of this task from this queue keeps (rate, maxConcurrent), if any. */
  claimLimits?(queue: Queue, task: AbstractTask<object>): ClaimLimits | undefined;
  /** Enqueues a child of a running task (the dispatcher's enqueue). */
  enqueueChild(parent: AbstractTask<object>, child: AbstractTask<object>, label?: string): Promise<AbstractTask<object>>;
  /** Hears what happens to the runs (a Worker's events); the sync queue's runner has none. */
  events?: WorkerEventEmitter;
}

/** A message the caller has already decoded and turned into a task (the sync queue's path). */
export interface PreparedDelivery {
  message: TaskMessage;
  task: AbstractTask<object>;
}

/**
 * A delivery whose task was claimed when its message was received, before a slot was free for it
 * (Worker option `claimAhead`): the claims of a whole receive go out as one statement (on
 * PostgreSQL, inside the receive's own) instead of one per free slot. Run it with `process`, or
 * give the claim back with `giveBack`.
 */
export interface ClaimedAhead {
  readonly taskId: string;
  /** Settles once the claim is answered (or given back); never rejects (a failed claim is `error`). */
  readonly claimed: Promise<AheadClaim>;
}

interface AheadClaim {
  /** The task to run under the claim; none: its delivery goes the usual way, claimed when it starts. */
  run?: { task: AbstractTask<object>; message: TaskMessage };
  result?: ClaimResult;
  /** Why the claim could not be made (the log unreachable): the delivery then fails as any claim would. */
  error?: unknown;
  /** performance.now() when the claim was sent: its lease counts from then. */
  requestedAt: number;
  /** The run's context and its lease, kept from the claim on (a claim waiting for a slot is renewed too). */
  held?: { ctx: RunContext; lease: HeldLease };
}

/** An unknown task is offered again after this long (within its grace). */
const UNKNOWN_TASK_RETRY_MS = 2_000;
/** Past this many receives an unknown task fails even within its grace (a clock far ahead). */
const UNKNOWN_TASK_MAX_RECEIVES = 100;

/**
 * Turns one delivered message into at most one run: decode, claim in the task log, run, record the
 * report, then acknowledge or release. Shared by workers and the sync (in-memory) queue.
 */
export class TaskRunner {
  /** Keeps the task-log leases of this runner's runs; aborts a run whose lease is lost. */
  readonly leases: TaskLeaseKeeper;
  /** Tasks this runner is claiming or running: it never starts one of them a second time. */
  private readonly busy = new Set<string>();
  private readonly contextDeps: RunContextDeps;

  constructor(private readonly options: TaskRunnerOptions) {
    this.leases = new TaskLeaseKeeper(options.taskLog, options.workerId, options.leaseMs, options.logger);
    this.contextDeps = {
      logger: options.logger,
      // Under this run's claim: a run that lost its task writes nothing (the fencing token).
      progress: (taskId, attempt, value) => options.taskLog.setProgress(taskId, { workerId: options.workerId, attempt }, value),
      progressed: options.events && ((task, value) => this.emit('progress', () => ({ taskId: task.id, taskName: task.logName, progress: value }))),
      enqueueChild: options.enqueueChild,
    };
  }

  async process(queue: Queue, message: ReceivedMessage, handle: MessageHandle, prepared?: PreparedDelivery, ahead?: ClaimedAhead): Promise<DeliveryOutcome> {
    if (ahead) {
      const claim = await ahead.claimed;
      if (!claim.run) return this.deliver(queue, message, handle);
      try {
        if (claim.error !== undefined) throw claim.error;
        return await this.claimAndRun(queue, claim.run.task, claim.run.message, handle, claim);
      } finally {
        this.busy.delete(claim.run.task.id);
      }
    }
    // The sync queue runs the very task object its enqueue was given: nothing to decode, and
    // nothing else delivers it, so no guard against a second delivery either.
    if (!prepared) return this.deliver(queue, message, handle);
    if (prepared.message.after) {
      const held = await this.holdForPrerequisites(queue, prepared.task, prepared.message, message, handle);
      if (held) return held;
    }
    return this.claimAndRun(queue, prepared.task, prepared.message, handle);
  }

  /**
   * Claims the task of a message just received, ahead of its run, when nothing has to be decided
   * before the claim: a registered task, no prerequisites, not a unique task's (its revision is
   * checked first), no claim limits, no message group (the group's order decides), not in flight
   * here. Undefined otherwise: that delivery goes the usual way, claimed when it starts.
   * `received.claim`: the receive claimed the task itself (QueueBroker ReceiveOptions.claimFor):
   * that claim is kept, or given back first when the task must be claimed when it starts.
   * `receiveSentAt`: performance.now() when that receive was sent.
   */
  claimAhead(queue: Queue, received: ReceivedMessage, receiveSentAt: number = performance.now()): ClaimedAhead | undefined {
    const made = received.claim;
    // A claim the receive made counts its lease from when the receive was sent (a long poll's
    // too), never later, in this process's reckoning (see TaskLeaseKeeper); one made here, from now.
    const requestedAt = made ? Math.min(receiveSentAt, performance.now()) : performance.now();
    // The receive tried and could not claim it (running elsewhere, ended, no entry): the usual way says why.
    if (made === null) return undefined;
    const run = this.runnableAhead(queue, received);
    if (made !== undefined) {
      if (!run || this.busy.has(run.task.id) || made.outcome !== 'claimed') {
        if (made.outcome !== 'claimed' || received.taskId === null) return undefined;
        const undone = this.dropClaim(received).then(() => ({ requestedAt }));
        return { taskId: received.taskId, claimed: undone };
      }
      this.busy.add(run.task.id);
      return { taskId: run.task.id, claimed: Promise.resolve(this.holdAhead(run, made, requestedAt)) };
    }
    if (!run || this.busy.has(run.task.id)) return undefined;
    const { task, message } = run;
    this.busy.add(task.id);
    const ifMissing = queue.broker.pushWithLogEntries ? undefined : entryOf(task, message, queue, TaskStatus.Enqueued);
    const claimed = this.options.taskLog.claim(task.id, this.options.workerId, this.options.leaseMs, ifMissing).then(
      (result) => this.holdAhead(run, result, requestedAt),
      (error: unknown): AheadClaim => ({ run, error, requestedAt }),
    );
    return { taskId: task.id, claimed };
  }

  /** The task of a message that may be claimed ahead (see claimAhead), decoded; undefined if not. */
  private runnableAhead(queue: Queue, received: ReceivedMessage): AheadClaim['run'] {
    if (queue.isSync() || received.groupId !== undefined) return undefined;
    const { registry } = this.options;
    try {
      const message = decodeTaskMessage(received.body);
      if (message.after || message.revision !== undefined || !registry.knows(message.name)) return undefined;
      const task = registry.instantiate(message);
      if (task.id !== received.taskId || this.options.claimLimits?.(queue, task)) return undefined;
      return { task, message };
    } catch {
      // Its delivery says what is wrong with it, the usual way.
      return undefined;
    }
  }

  /** A claim made ahead, with its run's context and lease from now on when it holds. */
  private holdAhead(run: NonNullable<AheadClaim['run']>, result: ClaimResult, requestedAt: number): AheadClaim {
    if (result.outcome !== 'claimed') return { run, result, requestedAt };
    const ctx = new RunContext(run.task, result.attempt, run.message.previousResult, this.contextDeps);
    return { run, result, requestedAt, held: { ctx, lease: this.leases.hold(run.task.id, result.attempt, ctx, requestedAt) } };
  }

  /**
   * A received message this worker does not run (see Worker.receive): a claim its receive made is
   * given back. Never rejects: a failure is logged, and the claim lapses with its lease.
   */
  async dropClaim(received: ReceivedMessage): Promise<void> {
    const made = received.claim;
    if (made?.outcome !== 'claimed' || received.taskId === null) return;
    try {
      await this.undoClaim(received.taskId, made.attempt, made.tookOver);
    } catch (error) {
      this.options.logger.warn(`could not give back the claim of task ${received.taskId}: ${(error as Error).message}; it runs once its lease ends`, { taskId: received.taskId });
    }
  }

  /** Puts back a claim whose run never started: enqueued, as if the claim had not been made. */
  private undoClaim(taskId: string, attempt: number, tookOver: boolean): Promise<boolean> {
    const holder = { workerId: this.options.workerId, attempt };
    return this.options.taskLog.changeStatus(taskId, { from: [TaskStatus.Running], to: TaskStatus.Enqueued, holder, releaseLease: true, undoClaim: { tookOver } });
  }

  /**
   * Gives back a claim made ahead whose run never started (the worker stops or pauses): the entry
   * is enqueued again as if the claim had not been made (one attempt, and the stall it counted,
   * less), for the next worker to claim at once. Call it before releasing the message.
   */
  async giveBack(ahead: ClaimedAhead): Promise<void> {
    const { run, result, held } = await ahead.claimed;
    if (!run) return;
    try {
      if (result?.outcome !== 'claimed' || !held) return;
      this.leases.drop(held.lease);
      // Lost meanwhile (cancelled by force, taken over): no longer ours to give back.
      if (held.ctx.aborted) return;
      await this.undoClaim(run.task.id, result.attempt, result.tookOver);
    } finally {
      this.busy.delete(run.task.id);
    }
  }

  private async deliver(queue: Queue, message: ReceivedMessage, handle: MessageHandle): Promise<DeliveryOutcome> {
    let decoded: TaskMessage;
    let task: AbstractTask<object>;
    try {
      decoded = decodeTaskMessage(message.body);
    } catch (error) {
      const id = peekTaskId(message.body) ?? message.taskId ?? `undecodable-${queue.name}-${message.id}`;
      return this.rejectMessage(queue, handle, id, '(undecodable)', Report.error(`Message could not be decoded: ${(error as Error).message}`, { rawPayload: message.body, queue: queue.name, brokerMessageId: message.id }));
    }
    try {
      const { registry } = this.options;
      // A task not registered yet may come from the task folder (loaded once, then known).
      if (registry.taskFolder && !registry.knows(decoded.name)) await registry.resolve(decoded.name);
      task = registry.instantiate(decoded);
    } catch (error) {
      if (error instanceof UnknownTaskError) return this.unknownTask(queue, message, decoded, handle, error);
      return this.rejectMessage(queue, handle, decoded.id, decoded.name, Report.error(`Task could not be created: ${(error as Error).message}`, { rawPayload: message.body, queue: queue.name }));
    }
    if (decoded.after) {
      const held = await this.holdForPrerequisites(queue, task, decoded, message, handle);
      if (held) return held;
    }
    if (decoded.revision !== undefined && !(await this.options.taskLog.takeUnique(task.id, decoded.revision))) {
      // A unique task replaced since this message was sent: a newer message carries its params.
      await handle.acknowledge();
      return 'not-runnable';
    }
    if (this.busy.has(task.id)) {
      // A second message for a task this runner already runs (a duplicate, or its own message
      // delivered again after its lease lapsed): never start it twice. Look again after a lease.
      await handle.release(this.options.leaseMs);
      return 'busy';
    }
    this.busy.add(task.id);
    try {
      return await this.claimAndRun(queue, task, decoded, handle);
    } finally {
      this.busy.delete(task.id);
    }
  }

  /** Claims the task (unless `ahead` holds the claim made when its message came) and runs it. */
  private async claimAndRun(queue: Queue, task: AbstractTask<object>, decoded: TaskMessage, handle: MessageHandle, ahead?: AheadClaim): Promise<DeliveryOutcome> {
    const { taskLog, workerId, leaseMs } = this.options;
    const requestedAt = ahead?.requestedAt ?? performance.now();
    // Where enqueue writes the message before the log entry (the queue and the log are not one
    // database), a worker often gets the message first: then it writes the entry, claimed.
    const ifMissing = queue.isSync() || queue.broker.pushWithLogEntries ? undefined : entryOf(task, decoded, queue, TaskStatus.Enqueued);
    const limits = this.options.claimLimits?.(queue, task);
    let claim = ahead?.result ?? (await taskLog.claim(task.id, workerId, leaseMs, ifMissing, limits));
    if (claim.outcome === 'missing') {
      // No log entry (its enqueue crashed between its two writes, or the log was reset): record
      // it now rather than drop the task.
      await taskLog.addIfMissing([entryOf(task, decoded, queue, TaskStatus.Enqueued)]);
      claim = await taskLog.claim(task.id, workerId, leaseMs, undefined, limits);
    }
    // The sync queue runs the task inside its enqueue: over a limit, that call waits.
    while (claim.outcome === 'limited' && queue.isSync()) {
      await new Promise((resolve) => setTimeout(resolve, claim.outcome === 'limited' ? claim.retryAfterMs : 0));
      claim = await taskLog.claim(task.id, workerId, leaseMs, undefined, limits);
    }
    if (claim.outcome === 'limited') {
      // Over its queue's rate or its maxConcurrent: it waits, it does not fail.
      await handle.release(claim.retryAfterMs);
      return 'deferred';
    }
    if (claim.outcome === 'busy') {
      // Another worker runs it right now; look again once its lease would have run out.
      await handle.release(claim.retryAfterMs + 100);
      return 'busy';
    }
    if (claim.outcome !== 'claimed') {
      await handle.acknowledge();
      return 'not-runnable';
    }
    if (claim.tookOver) this.emit('stalled', () => ({ taskId: task.id, taskName: task.logName, queue: queue.name, stalls: claim.stalls }));
    const maxStalls = (task.constructor as TaskClass).maxStalls ?? 1;
    if (claim.stalls > maxStalls) {
      if (ahead?.held) this.leases.drop(ahead.held.lease);
      return this.giveUp(queue, task, claim.attempt, claim.stalls, maxStalls, handle);
    }
    return this.run(queue, task, decoded, claim.attempt, claim.stalls, requestedAt, handle, ahead?.held);
  }

  /**
   * A task with prerequisites (enqueue option `after`) runs only once they ended as it needs.
   * Until then its message goes back, to be looked at again soon (see nextLookMs); a task that
   * must not run ends cancelled or failed, unrun, with a report naming the prerequisite. Returns
   * undefined when the task may run now (with its prerequisites' results as previousResult).
   */
  private async holdForPrerequisites(queue: Queue, task: AbstractTask<object>, message: TaskMessage, received: ReceivedMessage, handle: MessageHandle): Promise<DeliveryOutcome | undefined> {
    const { taskLog, logger } = this.options;
    const prerequisites = { ids: message.after ?? [], onFailure: message.onPrerequisiteFailure ?? 'cancel', onlyOnFailure: message.onlyOnPrerequisiteFailure } as const;
    const decision = await decidePrerequisites(taskLog, prerequisites, Date.now() - Date.parse(message.createdAt));
    if (decision.kind === 'run') {
      if (message.previousResult === undefined && decision.previousResult !== undefined) message.previousResult = decision.previousResult;
      return undefined;
    }
    if (decision.kind === 'wait') {
      if (queue.isSync()) {
        // Checked at enqueue; a prerequisite moved back meanwhile (a rerun) cannot be waited for here.
        throw new TaskqError(`${task.logName} ${task.id} cannot run on sync queue ${queue.name}: its prerequisites ${decision.waitingFor.join(', ')} have not ended`);
      }
      await this.lookAgainLater(queue, task, received, handle, decision.retryMs);
      return 'deferred';
    }
    const change = { from: PENDING_STATUSES, to: decision.status, finished: true, report: JSON.stringify(decision.report) };
    let ended = await taskLog.changeStatus(task.id, change);
    if (!ended && !(await taskLog.get(task.id))) {
      // Its enqueue wrote the message but not the entry (see QueueDispatcher.publish).
      await taskLog.addIfMissing([entryOf(task, message, queue, TaskStatus.Enqueued)]);
      ended = await taskLog.changeStatus(task.id, change);
    }
    await handle.acknowledge();
    if (!ended) return 'not-runnable';
    if (task.parentId) await taskLog.settleParent(task.parentId);
    const level = decision.status === TaskStatus.Failed ? 'error' : 'warn';
    logger[level](`${task.logName} ${task.id} ${decision.status}: ${decision.report.message}`, { taskId: task.id, taskName: task.logName, status: decision.status, queue: queue.name });
    if (decision.status !== TaskStatus.Failed) return 'not-runnable';
    this.emitEnd('failed', queue.name, task.id, task.logName, 0, 0, decision.report);
    return 'failed';
  }

  /**
   * Gives a waiting task's message back for `delayMs`. On its broker's last delivery (SQS sends
   * it to the dead-letter queue after that) a copy is sent instead and this one acknowledged:
   * waiting is not failing.
   */
  private async lookAgainLater(queue: Queue, task: AbstractTask<object>, received: ReceivedMessage, handle: MessageHandle, delayMs: number): Promise<void> {
    if (!handle.lastDelivery) {
      await handle.release(delayMs);
      return;
    }
    await queue.broker.push(queue.name, {
      taskId: task.id,
      body: received.body,
      // Only queues with groups (SQS FIFO) name one, and they take no delay per message: there
      // the copy is looked at again at once.
      runAt: received.groupId === undefined ? Date.now() + delayMs : undefined,
      groupId: received.groupId,
      deduplicationId: `${task.id}:wait:${randomUUID()}`,
    });
    await handle.acknowledge();
  }

  /** A task whose runs keep dying with their worker: failed, not started yet again. */
  private async giveUp(queue: Queue, task: AbstractTask<object>, attempt: number, stalls: number, maxStalls: number, handle: MessageHandle): Promise<DeliveryOutcome> {
    const { taskLog, workerId, logger } = this.options;
    const report = Report.error(`Task stalled ${stalls} times: its worker died or lost the lease before the run ended, each time (maxStalls ${maxStalls})`);
    if (!(await taskLog.changeStatus(task.id, { from: [TaskStatus.Running], to: TaskStatus.Failed, holder: { workerId, attempt }, finished: true, report: JSON.stringify(report) }))) {
      await handle.release(0);
      return 'lost-lease';
    }
    await handle.acknowledge();
    if (task.parentId) await taskLog.settleParent(task.parentId);
    logger.error(`${task.logName} ${task.id} failed: ${report.message}`, { taskId: task.id, taskName: task.logName, status: 'failed', attempt, queue: queue.name });
    this.emitEnd('failed', queue.name, task.id, task.logName, attempt, 0, report);
    return 'failed';
  }

  private async run(queue: Queue, task: AbstractTask<object>, message: TaskMessage, attempt: number, stalls: number, claimedAt: number, handle: MessageHandle, held?: AheadClaim['held']): Promise<DeliveryOutcome> {
    const started = performance.now();
    const ctx = held?.ctx ?? new RunContext(task, attempt, message.previousResult, this.contextDeps);
    const lease = held?.lease ?? this.leases.hold(task.id, attempt, ctx, claimedAt);
    if (ctx.aborted) {
      // Claimed ahead, and lost while it waited for a slot (cancelled by force, or taken over
      // after its lease could not be renewed): not run.
      this.leases.drop(lease);
      await handle.release(0);
      if (!(ctx.abortReason instanceof TaskCancelledError)) return 'lost-lease';
      if (task.parentId) await this.options.taskLog.settleParent(task.parentId);
      return 'cancelled';
    }
    this.emit('active', () => ({ taskId: task.id, taskName: task.logName, queue: queue.name, attempt }));

    let report: Report;
    let failed: boolean;
    // While traced (a worker process with its fault handlers), the run's async context names it:
    // an uncaught error from its background code is traced back to it (runningTask()) and can
    // fail it.
    const state = tracingRuns() ? new RunState(task.id, task.logName, attempt, queue.name, ctx) : undefined;
    try {
      const result = state ? state.start(task) : task.run(ctx);
      report = toReport(await withTimeout(result, message.timeout, ctx));
      failed = report.type === 'error';
    } catch (error) {
      report = Report.fromError(error);
      failed = true;
    } finally {
      if (state) state.ended = true;
    }
    handle.runEnded?.();
    // The lease is kept until the result is written (or given up): see finalWrite.
    try {
      return await this.record(queue, task, message, attempt, stalls, started, ctx, report, failed, handle);
    } finally {
      this.leases.drop(lease);
    }
  }

  /** Writes a run's outcome to the log, then acknowledges or releases its message. */
  private async record(
    queue: Queue,
    task: AbstractTask<object>,
    message: TaskMessage,
    attempt: number,
    stalls: number,
    started: number,
    ctx: RunContext,
    report: Report,
    failed: boolean,
    handle: MessageHandle,
  ): Promise<DeliveryOutcome> {
    const { taskLog, workerId, logger } = this.options;
    const cls = task.constructor as TaskClass;
    const holder = { workerId, attempt };
    // Serialised once, before any write, the same for every broker: a result that is not JSON
    // (a BigInt, a cycle) is a failed run that says so, not a write that fails and a rerun.
    let reportJson: string;
    let retryable = true;
    try {
      reportJson = report === COMPLETED ? COMPLETED_JSON : JSON.stringify(report);
    } catch (error) {
      report = Report.error(`Task result could not be serialised as JSON: ${(error as Error).message}`);
      reportJson = JSON.stringify(report);
      failed = true;
      retryable = false;
    }

    const ms = Math.round(performance.now() - started);
    const done = (status: DeliveryOutcome, delayMs?: number): DeliveryOutcome => {
      if (logger.isLevelEnabled?.('info') !== false) {
        logger.info(`${task.logName} ${task.id} ${status} in ${ms} ms`, { taskId: task.id, taskName: task.logName, status, ms, attempt, queue: queue.name });
      }
      this.emitEnd(status, queue.name, task.id, task.logName, attempt, ms, report, delayMs);
      return status;
    };

    const reason = ctx.abortReason;
    if (ctx.aborted && !(reason instanceof TaskTimeoutError) && !(reason instanceof TaskFaultError)) {
      // Cancelled by force or taken over after a lost lease: whoever changed the status owns it
      // now. A cancelled child may have been its parent's last: settle the parent (idempotent).
      // A forced cancel ends the task (the run is over); a takeover does not.
      await handle.release(0);
      if (task.parentId) await taskLog.settleParent(task.parentId);
      return done(reason instanceof TaskCancelledError ? 'cancelled' : 'lost-lease');
    }

    // Runs that stalled (their worker died) are not failures of the task: they do not use up
    // its attempts. maxStalls bounds them instead.
    if (failed && retryable && attempt - stalls < message.maxAttempts && handle.lastDelivery) {
      // The broker would not deliver it again: failed now, and its message given back for the
      // broker to move to its dead-letter queue (where `task-log --rerun` can take it from).
      report = Report.error(`${report.message} (not retried: this was the message's last delivery; ${queue.name}'s broker moves it to its dead-letter queue after ${queue.broker.maxReceives} receives)`, report.data);
      const changed = await this.finalWrite(ctx, task.id, { from: [TaskStatus.Running], to: TaskStatus.Failed, holder, finished: true, report: JSON.stringify(report) });
      await handle.release(0);
      if (!changed) return done('lost-lease');
      if (task.parentId) await taskLog.settleParent(task.parentId);
      return done('failed');
    }
    if (failed && retryable && attempt - stalls < message.maxAttempts) {
      const moved = await this.finalWrite(ctx, task.id, { from: [TaskStatus.Running], to: TaskStatus.Enqueued, holder, releaseLease: true, report: reportJson });
      if (!moved) {
        await handle.release(0);
        return done('lost-lease');
      }
      const delayMs = backoffDelay(message.backoff ?? cls.backoff, attempt - stalls);
      await handle.release(delayMs);
      return done('retry', delayMs);
    }

    const to = failed ? TaskStatus.Failed : ctx.children > 0 ? TaskStatus.ChildRunning : TaskStatus.Completed;
    const changed = await this.finalWrite(ctx, task.id, { from: [TaskStatus.Running], to, holder, report: reportJson, finished: to !== TaskStatus.ChildRunning });
    if (!changed) {
      await handle.release(0);
      return done('lost-lease');
    }
    await handle.acknowledge();
    if (to === TaskStatus.ChildRunning) await taskLog.settleParent(task.id);
    if (task.parentId && to !== TaskStatus.ChildRunning) await taskLog.settleParent(task.parentId);
    return done(to === TaskStatus.ChildRunning ? 'child_running' : to);
  }

  /**
   * A run's result is written again while the log fails, with back-off, for as long as a lease
   * lasts: the run is over, and losing its result to a blip would run it again. The lease is kept
   * (renewed) meanwhile, so no other worker takes the task over; once the run has lost it, the
   * write could not apply anyway. A write that went through but whose answer was lost is
   * harmless to repeat: the compare-and-set then finds the status moved and says so.
   */
  private finalWrite(ctx: RunContext, id: string, change: StatusChange): Promise<boolean> {
    return this.options.taskLog.changeStatus(id, change).catch(async (error: unknown) => {
      const giveUpAt = performance.now() + this.options.leaseMs;
      for (let i = 0; performance.now() < giveUpAt && !(ctx.abortReason instanceof LeaseLostError); i++) {
        await new Promise((resolve) => setTimeout(resolve, FINAL_WRITE_RETRIES_MS[Math.min(i, FINAL_WRITE_RETRIES_MS.length - 1)]));
        try {
          return await this.options.taskLog.changeStatus(id, change);
        } catch (again) {
          error = again;
        }
      }
      throw error;
    });
  }

  /**
   * A task this process does not know. During a rolling deploy an older worker meets tasks only
   * newer workers know: leave it to them for a while, then fail it, saying so.
   */
  private async unknownTask(queue: Queue, message: ReceivedMessage, decoded: TaskMessage, handle: MessageHandle, error: UnknownTaskError): Promise<DeliveryOutcome> {
    const grace = this.options.unknownTaskGraceMs ?? 0;
    const deadline = Date.parse(decoded.createdAt) + grace;
    const left = deadline - Date.now();
    if (left > 0 && message.receiveCount < UNKNOWN_TASK_MAX_RECEIVES) {
      this.options.logger.warn(
        `${error.message}. Left on queue ${queue.name} for a worker that knows it; it fails at ${new Date(deadline).toISOString()} if none runs it by then`,
        { taskId: decoded.id, taskName: decoded.name, queue: queue.name },
      );
      await handle.release(Math.min(UNKNOWN_TASK_RETRY_MS, left));
      return 'deferred';
    }
    const why = grace > 0 ? `${error.message} (no worker that knows it took it within ${grace} ms)` : error.message;
    return this.rejectMessage(queue, handle, decoded.id, decoded.name, Report.error(why, { rawPayload: message.body, queue: queue.name }));
  }

  private async rejectMessage(queue: Queue, handle: MessageHandle, id: string, taskName: string, report: Report): Promise<DeliveryOutcome> {
    await this.options.taskLog.recordFailure(
      { id, parentId: null, taskName, label: '', owner: null, queue: queue.name, parameters: null, createdAt: new Date() },
      report.toJSON(),
    );
    await handle.acknowledge();
    this.options.logger.error(`${taskName} ${id} failed: ${report.message}`, { taskId: id, taskName, status: 'failed', queue: queue.name });
    this.emitEnd('failed', queue.name, id, taskName, 0, 0, report);
    return 'failed';
  }

  /** Emits a worker event to its listeners, if any (see emitWorkerEvent). */
  private emit<K extends keyof WorkerEvents>(event: K, payload: () => WorkerEvents[K][0]): void {
    emitWorkerEvent(this.options.events, this.options.logger, event, () => [payload()] as WorkerEvents[K]);
  }

  /** Emits the event of how a run ended: completed, failed or retrying (other outcomes have none). */
  private emitEnd(outcome: DeliveryOutcome, queue: string, taskId: string, taskName: string, attempt: number, durationMs: number, report: Report, delayMs?: number): void {
    if (outcome === 'completed' || outcome === 'child_running') {
      this.emit('completed', () => ({ taskId, taskName, queue, attempt, durationMs, ...(report.data === undefined ? {} : { result: report.data }) }));
    } else if (outcome === 'failed') {
      this.emit('failed', () => ({ taskId, taskName, queue, attempt, durationMs, error: report.message }));
    } else if (outcome === 'retry') {
      this.emit('retrying', () => ({ taskId, taskName, queue, attempt, durationMs, ...(delayMs === undefined ? {} : { delayMs }), error: report.message }));
    }
  }
}

export function entryOf(task: AbstractTask<object>, message: TaskMessage, queue: Queue, status: TaskStatus): NewTaskLogEntry {
  return {
    status,
    id: task.id,
    parentId: task.parentId,
    taskName: task.logName,
    label: task.label,
    owner: task.owner,
    queue: queue.name,
    parameters: message.params,
    createdAt: task.createdAt,
  };
}

/** The report of a run that returned nothing: one shared, frozen object, serialised once. */
const COMPLETED = Report.success('Task completed').freeze() as Report;
const COMPLETED_JSON = JSON.stringify(COMPLETED);

function toReport(result: TaskResult): Report {
  if (result === undefined) return COMPLETED;
  if (result instanceof Report) return result;
  // A Report from another copy of taskq (a task module that bundles its own) is still a report.
  if (typeof result === 'object' && result !== null && typeof (result as { toJSON?: unknown }).toJSON === 'function') {
    const json: unknown = (result as unknown as { toJSON(): unknown }).toJSON();
    if (Report.isReportData(json)) return Report.fromJSON(json);
  }
  return Report.success('Task completed', result as JsonValue);
}

/** Waits before each retry of a run's final write. */
const FINAL_WRITE_RETRIES_MS = [100, 250, 500, 1_000, 2_000];

function withTimeout<T>(run: Promise<T> | T, timeout: number | null, ctx: RunContext): Promise<T> | T {
  return timeout ? raceTimeout(run, timeout, ctx) : run;
}

async function raceTimeout<T>(run: Promise<T> | T, timeout: number, ctx: RunContext): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      const error = new TaskTimeoutError(timeout);
      ctx.abort(error);
      reject(error);
    }, timeout);
  });
  try {
    return await Promise.race([run, expired]);
  } finally {
    clearTimeout(timer);
  }
}
