import { EventEmitter } from 'node:events';
import { hostname } from 'node:os';
import { randomUUID } from 'node:crypto';
import { DueTimes } from './dueTimes';
import { ConfigError } from './errors';
import type { Logger } from './logger';
import { sweepLostTasks } from './lostTaskSweep';
import type { Queue } from './queue';
import type { ReceivedMessage } from './queueBroker';
import type { QueueDispatcher } from './queueDispatcher';
import type { ClaimedAhead, DeliveryOutcome, TaskRunner } from './taskRunner';
import type { ScheduleDefinition } from './schedules/schedule';
import type { Scheduler } from './schedules/scheduler';
import { schedulerFor } from './schedules/declaredSchedules';
import { type WorkerEvents, emitWorkerEvent } from './workerEvents';
import { DEFAULT_HEARTBEAT_MS } from './taskLog/taskLog';
import { HeartbeatWriter, MIN_HEARTBEAT_MS } from './workerHeartbeat';

export interface WorkerOptions {
  /** Consume only this queue; else every queue, in the dispatcher's strategy order. */
  queue?: string;
  /** Stop after this many task runs. Never receives more than it has left to run. */
  limit?: number;
  /** Tasks run at the same time. */
  concurrency?: number;
  /**
   * Messages received beyond the free slots (default 0). A worker never holds more unstarted
   * messages than this: what it holds, an idle worker cannot get.
   */
  prefetch?: number;
  /**
   * Claim the tasks of received messages in the task log at once, all of a receive in one
   * statement, rather than each when a slot is free for it (default: true without prefetch,
   * where every received task starts at once anyway; false with prefetch). Faster where each
   * write is a round trip (PostgreSQL: the claims of a receive of 50 cost one), at a price: a
   * prefetched task shows as `running` from when it was received, not `dequeued`, and while it
   * waits for its slot its lease is renewed like a running one's. Up to max(concurrency,
   * prefetch) results may then be written at once. A claim not yet started when the worker stops
   * or pauses is given back (one attempt less). Tasks with prerequisites, unique tasks, limited
   * tasks and messages of a group (FIFO) are still claimed when they start.
   */
  claimAhead?: boolean;
  /** How long a received message and a running task stay ours without renewal (>= 100 ms; renewed every third). */
  leaseMs?: number;
  /**
   * How long a task this worker does not know is left for a worker that knows it (a rolling
   * deploy) before it fails; 0 fails it at once. Default 5 minutes.
   */
  unknownTaskGraceMs?: number;
  /**
   * A task of this worker's queues that has waited this long for a message its queue no longer
   * holds is failed as lost (see sweepLostTasks); swept every 5 minutes at most. Default 1 hour;
   * 0 turns the sweep off.
   */
  lostTaskAfterMs?: number;
  /** Idle back-off: waits after an empty poll grow with the idle time, from idleMinMs to idleMaxMs. */
  idleMinMs?: number;
  idleMaxMs?: number;
  /**
   * How often the worker writes its heartbeat to the task log (`taskq workers`; >= 100 ms,
   * default 10 s): it counts as alive while seen within three of these.
   */
  heartbeatMs?: number;
  logger?: Logger;
  workerId?: string;
  /**
   * Recurring tasks this worker enqueues on their cron ticks while it runs (see Scheduler): give
   * every worker the same ones, each tick still runs once. Default: the `schedules` of the config
   * the dispatcher was built from (createDispatcher); `[]` for none.
   */
  schedules?: readonly ScheduleDefinition[] | Scheduler;
}

export interface WorkerStats {
  /**
   * Runs finished (completed, failed, retried or waiting on children), and runs aborted because
   * their task was cancelled or archived by force (counted here only).
   */
  processed: number;
  completed: number;
  failed: number;
  retried: number;
}

type WorkerState = 'idle' | 'running' | 'paused' | 'stopping' | 'stopped';

interface Held {
  queue: Queue;
  /** The latest delivery of the message: a redelivery while it runs replaces it (the old receipt is stale). */
  message: ReceivedMessage;
  /** Its run is over and its acknowledgement under way: the message stays held (leased) until it ends. */
  acknowledging?: boolean;
  /** Its task's code is over and its outcome is being written: see Worker.busySlots. */
  runOver?: boolean;
  /** Given back to the queue by its run (a retry, a lost lease): it may come back before the run has settled. */
  released?: boolean;
  /** Its task, claimed when the message came (WorkerOptions.claimAhead). */
  ahead?: ClaimedAhead;
}

/** The shortest lease: renewed every third of it, a shorter one lapses at the first slow query. */
const MIN_LEASE_MS = 100;
/** How long a worker of one long-polling queue (SQS) lets a receive wait; the broker caps it. */
const LONG_POLL_MS = 20_000;
/** Waits between receives that fail (the broker down): doubling from the first to the last. */
const RECEIVE_RETRY_FIRST_MS = 100;
const RECEIVE_RETRY_MAX_MS = 5_000;
/** Waits before each new try of a failed acknowledgement; after the last, the message is left to its lease. */
const ACKNOWLEDGE_RETRIES_MS = [100, 500, 2_000];
/** Outcomes that gave the message back rather than acknowledging it (see DeliveryOutcome). */
const RELEASED: ReadonlySet<DeliveryOutcome> = new Set(['retry', 'busy', 'deferred', 'lost-lease', 'cancelled']);

/**
 * Consumes one queue or all of them: receives under a lease, runs up to `concurrency` tasks at a
 * time through the TaskRunner, renews leases while they run, and backs off when idle. An event
 * emitter of its runs (WorkerEvents: `active`, `completed`, `failed`, ...).
 */
export class Worker extends EventEmitter<WorkerEvents> {
  readonly id: string;
  readonly stats: WorkerStats = { processed: 0, completed: 0, failed: 0, retried: 0 };
  private readonly queues: Queue[];
  private readonly concurrency: number;
  private readonly prefetch: number;
  private readonly claimAhead: boolean;
  /** Runs whose code is over that may have their outcome written at once, their slots freed (see busySlots). */
  private readonly finishingSlots: number;
  private readonly leaseMs: number;
  /** How often held messages' leases are renewed: every third of the lease. */
  private readonly renewEveryMs: number;
  private readonly idleMinMs: number;
  private readonly idleMaxMs: number;
  private readonly limit?: number;
  private readonly logger: Logger;
  private readonly runner: TaskRunner;
  private readonly buffer: Held[] = [];
  private readonly active = new Map<Promise<void>, Held>();
  /** Deliveries in `active` whose task's code is over (their outcome being written). */
  private finishing = 0;
  /** Acknowledgements under way of runs that are over: their slots are free, the stop waits for them. */
  private readonly acknowledging = new Set<Promise<void>>();
  /** Every message held (buffered or running): per queue, by message id. */
  private readonly held = new Map<Queue, Map<string, Held>>();
  private extending = false;
  private readonly lostTaskAfterMs: number;
  private sweeping = false;
  private state: WorkerState = 'idle';
  private sleeper?: () => void;
  private woken = false;
  /** Ends a long poll under way when the worker stops or pauses. */
  private poll?: AbortController;
  /** What the last receive's queues failed with (empty when none did), and failures in a row. */
  private receiveErrors: string[] = [];
  private receiveFailures = 0;
  private finished?: Promise<WorkerStats>;
  private readonly scheduler?: Scheduler;
  /** A receive found messages since the last `drained` event. */
  private foundWork = false;
  /** The worker's row in the task log's workers table (its heartbeat). */
  private readonly heartbeats: HeartbeatWriter;

  constructor(
    private readonly dispatcher: QueueDispatcher,
    options: WorkerOptions = {},
  ) {
    super();
    const atLeast = (min: number, integer: boolean) => (name: string, value: number | undefined, fallback: number): number => {
      const v = value ?? fallback;
      if (!(integer ? Number.isInteger(v) : Number.isFinite(v)) || v < min) throw new ConfigError(`Worker option ${name} must be ${integer ? 'an integer' : 'a number'} >= ${min}, got ${String(value)}`);
      return v;
    };
    const positive = atLeast(1, true);
    const nonNegative = atLeast(0, false);
    this.concurrency = positive('concurrency', options.concurrency, 1);
    this.prefetch = atLeast(0, true)('prefetch', options.prefetch, 0);
    if (options.claimAhead !== undefined && typeof options.claimAhead !== 'boolean') throw new ConfigError(`Worker option claimAhead must be true or false, got ${String(options.claimAhead)}`);
    // Without prefetch every received task starts at once: claiming it with the receive changes
    // nothing a user sees, and saves a round trip (on PostgreSQL, the claim goes in the receive).
    this.claimAhead = options.claimAhead ?? this.prefetch === 0;
    this.finishingSlots = this.claimAhead ? Math.max(this.concurrency, this.prefetch) : this.concurrency;
    this.leaseMs = positive('leaseMs', options.leaseMs, 30_000);
    if (this.leaseMs < MIN_LEASE_MS) throw new ConfigError(`Worker option leaseMs must be at least ${MIN_LEASE_MS} ms (it is renewed every third of it), got ${this.leaseMs}`);
    this.renewEveryMs = Math.floor(this.leaseMs / 3);
    this.idleMinMs = positive('idleMinMs', options.idleMinMs, 5);
    this.idleMaxMs = Math.max(this.idleMinMs, positive('idleMaxMs', options.idleMaxMs, 1_000));
    if (options.limit !== undefined) this.limit = positive('limit', options.limit, 1);
    this.queues = options.queue ? [dispatcher.getQueue(options.queue)] : dispatcher.getQueues();
    this.queues = this.queues.filter((q) => !q.isSync());
    for (const queue of this.queues) this.held.set(queue, new Map());
    if (this.queues.length === 0) {
      // A sync queue runs its tasks at enqueue time: there is nothing for a worker to consume.
      throw new ConfigError(`Nothing to consume: ${options.queue ? `queue "${options.queue}" is` : 'every queue is'} on the sync in-memory broker, which runs tasks when they are enqueued`);
    }
    this.logger = options.logger ?? dispatcher.logger;
    this.id = options.workerId ?? `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
    this.runner = dispatcher.createRunner(this.id, this.leaseMs, this.logger, nonNegative('unknownTaskGraceMs', options.unknownTaskGraceMs, 5 * 60_000), this);
    this.lostTaskAfterMs = nonNegative('lostTaskAfterMs', options.lostTaskAfterMs, 3_600_000);
    this.scheduler = schedulerFor(dispatcher, options.schedules, this.logger);
    const heartbeatMs = atLeast(MIN_HEARTBEAT_MS, true)('heartbeatMs', options.heartbeatMs, DEFAULT_HEARTBEAT_MS);
    this.heartbeats = new HeartbeatWriter(dispatcher.taskLog, this, this.queues.map((q) => q.name), heartbeatMs, this.logger);
  }

  get status(): WorkerState {
    return this.state;
  }

  /** Runs until stopped or the limit is reached; resolves with the stats. */
  run(): Promise<WorkerStats> {
    this.finished ??= this.loop();
    return this.finished;
  }

  /** Stops receiving, lets running tasks finish, gives back unstarted ones. */
  stop(): Promise<WorkerStats> {
    if (this.state !== 'stopped') this.state = 'stopping';
    void this.heartbeats.beat();
    this.poll?.abort();
    this.wake();
    return this.finished ?? Promise.resolve(this.stats);
  }

  /** Stops receiving and gives back unstarted tasks; running ones finish. */
  pause(): void {
    if (this.state === 'running') {
      this.state = 'paused';
      this.logger.info('worker paused', { workerId: this.id });
      void this.heartbeats.beat();
      this.poll?.abort();
      this.wake();
    }
  }

  resume(): void {
    if (this.state === 'paused') {
      this.state = 'running';
      this.logger.info('worker resumed', { workerId: this.id });
      void this.heartbeats.beat();
      this.wake();
    }
  }

  private async loop(): Promise<WorkerStats> {
    if (this.state === 'idle') this.state = 'running';
    try {
      // Before any timer: a schedule naming no task stops the worker before it starts.
      await this.scheduler?.start();
    } catch (error) {
      this.state = 'stopped';
      throw error;
    }
    const heartbeat = setInterval(() => void this.extendLeases(), this.renewEveryMs);
    const sweep = this.lostTaskAfterMs > 0 ? setInterval(() => void this.sweepLost(), Math.min(this.lostTaskAfterMs, 5 * 60_000)) : undefined;
    sweep?.unref();
    const unsubscribe = this.dispatcher.onEnqueued((queue) => {
      if (this.queues.some((q) => q.name === queue)) this.wake();
    });
    const due = new DueTimes(() => this.wake());
    const unlisten = await this.listen(due);
    this.logger.info('worker started', { workerId: this.id, queues: this.queues.map((q) => q.name), concurrency: this.concurrency, limit: this.limit ?? null });
    this.heartbeats.start();
    let lastWorkAt = Date.now();
    // A broker that waits for messages itself (SQS long polling) needs no back-off on top.
    const longPoll = this.queues.length === 1 && this.queues[0].broker.longPolls === true;
    try {
      while (this.state === 'running' || this.state === 'paused') {
        if (this.state === 'paused') {
          await this.releaseBuffer();
          await this.sleep(this.idleMaxMs);
          continue;
        }
        const budget = this.limit === undefined ? Infinity : this.limit - this.stats.processed - this.active.size - this.buffer.length;
        if (budget <= 0 && this.buffer.length === 0) {
          if (this.active.size === 0) break;
          await this.sleep(this.idleMaxMs);
          continue;
        }
        let received: Held[] = [];
        if (this.buffer.length === 0 && this.busySlots() < this.concurrency) {
          received = await this.receive(budget, longPoll);
          if (this.receiveErrors.length > 0) {
            // The broker is down (a database restarting): one line per failure, with the next try.
            this.receiveFailures++;
            const retryMs = Math.min(RECEIVE_RETRY_MAX_MS, RECEIVE_RETRY_FIRST_MS * 2 ** (this.receiveFailures - 1));
            this.logger.error(`${this.receiveErrors.join('; ')}; failure ${this.receiveFailures} in a row, trying again in ${retryMs} ms`, { workerId: this.id, retryMs });
            this.reportError(new Error(this.receiveErrors.join('; ')));
            if (received.length === 0) {
              await this.sleep(retryMs);
              continue;
            }
          } else if (this.receiveFailures > 0) {
            this.logger.info(`receiving works again after ${this.receiveFailures} failures`, { workerId: this.id });
            this.receiveFailures = 0;
          }
          if (received.length === 0) {
            if (this.foundWork) {
              this.foundWork = false;
              emitWorkerEvent(this, this.logger, 'drained', () => []);
            }
            if (longPoll) continue;
            // Back off with the time since work was last found: a quarter of it, within
            // [idleMinMs, idleMaxMs]. A queue that had work a moment ago is polled again soon,
            // whatever a few empty polls in between said; one idle for seconds, once a second.
            if (this.active.size > 0) lastWorkAt = Date.now();
            await this.sleep(Math.min(this.idleMaxMs, Math.max(this.idleMinMs, (Date.now() - lastWorkAt) / 4)));
            continue;
          }
          lastWorkAt = Date.now();
          this.foundWork = true;
        }
        let blocked = false;
        while (this.buffer.length > 0 && this.busySlots() < this.concurrency && this.state === 'running') {
          // A message whose group (FIFO) has one running waits for it: a group runs in order. So
          // does a second message of a task in flight here (its run settling): it then finds the
          // task ended, rather than busy for a whole lease.
          const next = this.buffer.findIndex((held) => !this.groupRunning(held) && !this.taskInFlight(held));
          if (next < 0) {
            blocked = true;
            break;
          }
          this.start(this.buffer.splice(next, 1)[0]);
        }
        if (received.length > 0) await this.markDequeued(received);
        if (this.busySlots() >= this.concurrency || blocked) await this.sleep(this.idleMaxMs);
      }
    } finally {
      if (this.state !== 'stopped') this.state = 'stopping';
      await this.scheduler?.stop();
      await this.releaseBuffer();
      await Promise.allSettled([...this.active.keys()]);
      await Promise.allSettled([...this.acknowledging]);
      this.runner.leases.stop();
      clearInterval(heartbeat);
      clearInterval(sweep);
      unsubscribe();
      due.clear();
      await Promise.allSettled(unlisten.map((stop) => stop()));
      this.state = 'stopped';
      await this.heartbeats.stop();
      this.logger.info('worker stopped', { workerId: this.id, ...this.stats });
    }
    return this.stats;
  }

  /**
   * Listens on the queues whose broker tells of pushes from other processes (PostgreSQL's
   * NOTIFY): a push wakes the worker at once, a delayed one when it becomes due. Before the first
   * receive, so no push falls between the two. Polling goes on as the safety net.
   */
  private async listen(due: DueTimes): Promise<Array<() => Promise<void>>> {
    const stops = await Promise.all(
      this.queues.map(async (queue) => {
        if (!queue.broker.listen) return undefined;
        try {
          return await queue.broker.listen(
            queue.name,
            (delayMs) => (delayMs > 0 ? due.add(Date.now() + delayMs) : this.wake()),
            (message) => this.logger.warn(message, { workerId: this.id, queue: queue.name }),
          );
        } catch (error) {
          this.logger.warn(`cannot listen for new tasks on queue ${queue.name}, polling only: ${(error as Error).message}`, { workerId: this.id, queue: queue.name });
          return undefined;
        }
      }),
    );
    return stops.filter((stop) => stop !== undefined);
  }

  /** Receives from the first queue, in strategy order, that has messages. Returns what it holds anew. */
  private async receive(budget: number, longPoll: boolean): Promise<Held[]> {
    const queues = this.queues.length === 1 ? this.queues : this.dispatcher.strategy.order(this.queues);
    this.receiveErrors = [];
    for (const queue of queues) {
      const want = Math.min(budget, queue.broker.receiveBatchSize, this.concurrency - this.busySlots() + this.prefetch);
      let messages: ReceivedMessage[];
      this.poll = new AbortController();
      // Claiming ahead, the receive claims the tasks too where its broker can (one statement).
      const claimFor = this.claimAhead && !this.dispatcher.claimsNeedTheTask(queue) ? { taskLog: this.dispatcher.taskLog.broker, workerId: this.id, leaseMs: this.leaseMs } : undefined;
      const sentAt = performance.now();
      try {
        messages = await queue.broker.receive(queue.name, want, this.leaseMs, { waitMs: longPoll ? LONG_POLL_MS : 0, signal: this.poll.signal, claimFor });
      } catch (error) {
        this.receiveErrors.push(`receive from queue ${queue.name} failed: ${(error as Error).message}`);
        continue;
      } finally {
        this.poll = undefined;
      }
      if (messages.length === 0) continue;
      const fresh: Held[] = [];
      const heldHere = this.held.get(queue) as Map<string, Held>;
      for (const message of messages) {
        const running = heldHere.get(message.id);
        if (running?.released) {
          // Released by a run that is still settling (its slot freed at the end of its code):
          // given back at once, to be received as new once that run is over (a claim its receive
          // made given back first).
          this.runner
            .dropClaim(message)
            .then(() => queue.broker.release(queue.name, message, 0))
            .catch((error: unknown) => {
              this.logger.warn(`could not release message ${message.id}: ${(error as Error).message}; it returns when its lease ends`);
            });
          continue;
        }
        if (running) {
          // Our own message again: its lease lapsed while we ran it (the event loop was blocked
          // longer than the lease). Keep running it under the new receipt; never start it twice.
          running.message = message;
          this.logger.warn(`message ${message.id} came back while this worker runs it (its lease lapsed): kept, not started again`, { queue: queue.name, taskId: message.taskId });
          // A receive never claims a task this worker runs; should it have claimed one anyway (its
          // entry no longer running under us), the claim goes back as if never made.
          if (message.claim) void this.runner.dropClaim(message);
          continue;
        }
        const held: Held = { queue, message };
        if (this.claimAhead) held.ahead = this.runner.claimAhead(queue, message, sentAt);
        heldHere.set(message.id, held);
        this.buffer.push(held);
        fresh.push(held);
      }
      return fresh;
    }
    return [];
  }

  /**
   * The log shows the messages this worker holds unstarted as dequeued (a started one is claimed
   * as running instead: no write of its own on the way to that).
   */
  private async markDequeued(received: readonly Held[]): Promise<void> {
    const ids = received.flatMap((held) => (held.message.taskId && !held.ahead && this.buffer.includes(held) ? [held.message.taskId] : []));
    if (ids.length === 0) return;
    try {
      await this.dispatcher.taskLog.markDequeued(ids);
    } catch (error) {
      this.logger.warn(`could not mark tasks dequeued: ${(error as Error).message}`);
    }
  }

  /**
   * Slots taken: deliveries in flight, less those whose task's code is over (their outcome being
   * written), up to `finishingSlots` of them (`concurrency`; with claimAhead, max(concurrency,
   * prefetch)). So the next task's claim goes out with a result's write rather than after it (on
   * SQLite, one commit for both instead of two); never more than `concurrency` tasks run at
   * once, nor more than `concurrency + finishingSlots` deliveries are in flight.
   */
  private busySlots(): number {
    return this.active.size - Math.min(this.finishing, this.finishingSlots);
  }

  /**
   * A run's code is over: its slot is free for the next task while its outcome is written. Not
   * for a message of a group (FIFO): the next of its group must wait for this one's outcome (a
   * retry goes first).
   */
  private runEnded(held: Held): void {
    if (held.runOver || held.message.groupId !== undefined) return;
    held.runOver = true;
    this.finishing++;
    if (this.finishing <= this.finishingSlots) this.wake();
  }

  private start(held: Held): void {
    const { queue, message } = held;
    const broker = queue.broker;
    const promise = this.runner
      .process(queue, message, {
        acknowledge: () => this.acknowledge(held),
        release: (delayMs) => {
          held.released = true;
          return broker.release(queue.name, held.message, delayMs);
        },
        lastDelivery: broker.maxReceives !== undefined && message.receiveCount >= broker.maxReceives,
        runEnded: () => this.runEnded(held),
      }, undefined, held.ahead)
      .then(
        (outcome) => {
          this.count(outcome);
          if (RELEASED.has(outcome)) this.releaseGroup(held);
        },
        (error: unknown) => {
          this.releaseGroup(held);
          // The log or broker failed mid-delivery (database down): the lease runs out and the
          // message is delivered again, so nothing is lost.
          // The real cause goes in the log here: the task log could not take it.
          this.logger.error(`task ${message.taskId ?? '(unknown id)'}: its delivery failed, its result (if it ran) could not be recorded; it runs again once its lease ends: ${(error as Error).message}`, { queue: queue.name, messageId: message.id, taskId: message.taskId, cause: (error as Error).message });
          this.reportError(error);
        },
      )
      .finally(() => {
        this.active.delete(promise);
        if (held.runOver) this.finishing--;
        if (!held.acknowledging) this.held.get(queue)?.delete(message.id);
        this.wake();
      });
    this.active.set(promise, held);
  }

  /**
   * Sends the acknowledgement of a run that is over and frees its slot without waiting for it:
   * the next receive overlaps it (a batching broker's DeleteMessageBatch, a database's DELETE).
   * The result is in the log already; should the acknowledgement fail, the message comes back
   * when its lease ends and the duplicate guard settles it without a run. Until it ends the
   * message stays held, its lease renewed.
   */
  private acknowledge(held: Held): Promise<void> {
    const { queue } = held;
    held.acknowledging = true;
    const sent: Promise<void> = this.sendAcknowledgement(held).finally(() => {
      this.acknowledging.delete(sent);
      this.held.get(queue)?.delete(held.message.id);
    });
    this.acknowledging.add(sent);
    return Promise.resolve();
  }

  /**
   * An acknowledgement is tried again a few times (a dropped connection, a busy database): it
   * only deletes this delivery, so a repeat is harmless, and one that fails for good leaves the
   * message to come back only after its whole lease. Each failure is logged once, with what next.
   */
  private async sendAcknowledgement(held: Held): Promise<void> {
    const { queue } = held;
    for (let attempt = 0; ; attempt++) {
      try {
        // held.message: a redelivery while it ran brings a newer receipt.
        await queue.broker.acknowledge(queue.name, held.message);
        return;
      } catch (error) {
        const retryMs = ACKNOWLEDGE_RETRIES_MS[attempt];
        const next = retryMs === undefined ? 'it comes back when its lease ends and is settled without a run' : `trying again in ${retryMs} ms`;
        this.logger.warn(`could not acknowledge message ${held.message.id} (task ${held.message.taskId ?? 'unknown'}): ${(error as Error).message}; ${next}`, { queue: queue.name, messageId: held.message.id, taskId: held.message.taskId });
        if (retryMs === undefined) return;
        await new Promise((resolve) => setTimeout(resolve, retryMs));
      }
    }
  }

  private taskInFlight(held: Held): boolean {
    const id = held.message.taskId;
    if (id === undefined) return false;
    for (const running of this.active.values()) if (running.message.taskId === id) return true;
    return false;
  }

  private groupRunning(held: Held): boolean {
    const group = held.message.groupId;
    if (group === undefined) return false;
    for (const running of this.active.values()) if (running.queue === held.queue && running.message.groupId === group) return true;
    return false;
  }

  /**
   * The message of a group (FIFO) went back to its queue unfinished: the group's later messages
   * this worker holds go back too, unstarted, so none of them runs before it.
   */
  private releaseGroup(ended: Held): void {
    const group = ended.message.groupId;
    if (group === undefined) return;
    const later = this.buffer.filter((held) => held.queue === ended.queue && held.message.groupId === group);
    if (later.length === 0) return;
    this.buffer.splice(0, this.buffer.length, ...this.buffer.filter((held) => !later.includes(held)));
    void this.giveBack(later);
  }

  private count(outcome: DeliveryOutcome): void {
    if (outcome === 'completed' || outcome === 'child_running') this.stats.completed++;
    else if (outcome === 'failed') this.stats.failed++;
    else if (outcome === 'retry') this.stats.retried++;
    // A run aborted by a forced cancel is over (nothing runs the task again): it counts towards
    // `limit`. One that lost its lease to another worker is not over, and does not.
    else if (outcome !== 'cancelled') return;
    this.stats.processed++;
  }

  private releaseBuffer(): Promise<void> {
    return this.giveBack(this.buffer.splice(0));
  }

  /** Releases unstarted messages at once (a claim made ahead given back first, while the message is still ours). */
  private async giveBack(unstarted: Held[]): Promise<void> {
    await Promise.all(
      unstarted.map(async ({ queue, message, ahead }) => {
        if (ahead) {
          try {
            await this.runner.giveBack(ahead);
          } catch (error) {
            this.logger.warn(`could not give back the claim of task ${ahead.taskId}: ${(error as Error).message}; it can run again once its lease ends`, { taskId: ahead.taskId });
          }
        }
        this.held.get(queue)?.delete(message.id);
        try {
          await queue.broker.release(queue.name, message, 0);
        } catch (error) {
          this.logger.warn(`could not release message ${message.id}: ${(error as Error).message}; it returns when its lease ends`);
        }
      }),
    );
  }

  /**
   * Extends the leases of the messages held, each queue on its own: one queue's broker failing
   * does not stop another's renewal (nor the task-log leases, which the runner keeps apart).
   * Never more than one round at a time, so a slow broker does not pile them up.
   */
  private async extendLeases(): Promise<void> {
    if (this.extending) return;
    this.extending = true;
    await Promise.all(
      [...this.held].map(async ([queue, held]) => {
        if (held.size === 0) return;
        const messages = [...held.values()].map((h) => h.message);
        try {
          await queue.broker.extendLease(queue.name, messages, this.leaseMs);
        } catch (error) {
          this.logger.warn(`message lease renewal on queue ${queue.name} failed: ${(error as Error).message}; renewed again in ${this.renewEveryMs} ms`, { workerId: this.id, queue: queue.name });
          this.reportError(error);
        }
      }),
    );
    this.extending = false;
  }

  private async sweepLost(): Promise<void> {
    if (this.sweeping) return;
    this.sweeping = true;
    try {
      await sweepLostTasks(this.dispatcher, { olderThanMs: this.lostTaskAfterMs, queues: this.queues.map((q) => q.name) });
    } catch (error) {
      this.logger.warn(`lost-task sweep failed: ${(error as Error).message}`, { workerId: this.id });
      this.reportError(error);
    } finally {
      this.sweeping = false;
    }
  }

  /**
   * The `error` event of a failure the worker logged and goes on from. Only to listeners: node's
   * EventEmitter throws an `error` nobody listens to, and a worker nobody watches must not crash.
   */
  private reportError(error: unknown): void {
    emitWorkerEvent(this, this.logger, 'error', () => [error instanceof Error ? error : new Error(String(error))]);
  }

  /** Ends the current sleep, or the next one if none is under way (so no wake-up is lost). */
  private wake(): void {
    const sleeper = this.sleeper;
    this.sleeper = undefined;
    if (sleeper) sleeper();
    else this.woken = true;
  }

  /** Waits `ms`, or less when woken (new task, finished run, stop, pause, resume). */
  private sleep(ms: number): Promise<void> {
    if (this.woken) {
      this.woken = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.sleeper = undefined;
        resolve();
      }, ms);
      this.sleeper = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }
}
