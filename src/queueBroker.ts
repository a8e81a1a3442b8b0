import type { ClaimResult, TaskLogBroker } from './taskLog/taskLogBroker';
import type { NewTaskLogEntry } from './taskLog/taskLogEntry';

/**
 * The contract every queue broker implements (brokers/memory, brokers/rds, brokers/sqs).
 * A broker stores opaque message bodies in named queues and hands them out under a lease:
 * a received message is invisible to other consumers until it is acknowledged, released, or
 * its lease runs out — then it is delivered again (at-least-once).
 */
export interface QueueBroker {
  /** The factory key: 'memory', 'rds', 'sqs'. */
  readonly type: string;
  /** True when enqueueing runs the task at once, in the enqueuing process. */
  readonly isSync: boolean;
  /** How many messages a worker asks for at a time (the `receive` option). */
  readonly receiveBatchSize: number;
  /**
   * True when the messages live inside this process only (the memory broker with sync: false,
   * SQLite in memory): no other process can consume them, so the CLI refuses such a queue.
   */
  readonly processLocal?: boolean;
  /**
   * True when receive waits for messages (up to ReceiveOptions.waitMs) rather than answering at
   * once: a worker of one such queue then needs no idle back-off of its own.
   */
  readonly longPolls?: boolean;

  /** Creates what `queue` needs (a table, an SQS queue). Idempotent. */
  createContainer(queue: string): Promise<void>;
  /** Removes the queue and every message in it. */
  dropContainer(queue: string): Promise<void>;

  push(queue: string, message: OutgoingMessage): Promise<void>;
  pushMany(queue: string, messages: readonly OutgoingMessage[]): Promise<void>;

  /**
   * Up to `max` visible messages, each leased for `leaseMs`, oldest first. A broker that can wait
   * for messages to arrive (SQS long polling) may wait up to `options.waitMs` when none is
   * visible, and must stop waiting, returning what it has, when `options.signal` aborts.
   */
  receive(queue: string, max: number, leaseMs: number, options?: ReceiveOptions): Promise<ReceivedMessage[]>;
  /** Removes a received message for good. */
  acknowledge(queue: string, message: ReceivedMessage): Promise<void>;
  /** Pushes the leases of held messages `leaseMs` into the future. */
  extendLease(queue: string, messages: readonly ReceivedMessage[], leaseMs: number): Promise<void>;
  /** Gives a received message back, visible again after `delayMs`. */
  release(queue: string, message: ReceivedMessage, delayMs: number): Promise<void>;

  /**
   * Optional, for moving a queue to another broker: up to `max` messages that wait for their
   * run-at time (delayed, or released with a delay), with that time in `runAt`. They are not
   * leased; acknowledging one removes it unless a consumer received it meanwhile.
   */
  receiveDelayed?(queue: string, max: number): Promise<ReceivedMessage[]>;

  /**
   * Optional: writes the task-log entries and the messages in one transaction, when `taskLog`
   * keeps its entries in the same database as this broker its messages. Returns false, having
   * written nothing, when it cannot (then the dispatcher writes the message first, then the log).
   */
  pushWithLogEntries?(queue: string, messages: readonly OutgoingMessage[], taskLog: TaskLogBroker, entries: readonly NewTaskLogEntry[]): Promise<boolean>;

  /**
   * Optional: a unique task's enqueue (see UniquePush) as one transaction with its log entry,
   * when `taskLog` keeps its entries in this broker's database: the key is checked, and the entry
   * and the message written, or the pending task's entry and message replaced, or nothing written
   * when the key is held. Undefined, having written nothing, when it cannot (another database).
   */
  pushUnique?(queue: string, push: UniquePush, taskLog: TaskLogBroker): Promise<UniquePushResult | undefined>;

  /**
   * Optional: writes the messages inside the caller's open transaction (EnqueueOptions
   * `transaction`: a knex transaction or a pg client; the broker checks what it was given), and
   * the task-log entries too when `taskLog` is on the same database. Returns whether it wrote
   * them; if not, the worker that takes a message writes its entry. Brokers without it refuse
   * the option.
   */
  pushInTransaction?(queue: string, messages: readonly OutgoingMessage[], transaction: unknown, taskLog: TaskLogBroker, entries: readonly NewTaskLogEntry[]): Promise<boolean>;

  /**
   * Optional: tells a worker at once when messages are pushed to `queue` by any process, so an
   * idle worker need not poll to find them (PostgreSQL's LISTEN/NOTIFY). `onPushed(delayMs)`:
   * a message becomes visible in `delayMs` (0: now); `onPushed(0)` also means "look again" after
   * notifications may have been lost. Best effort: workers keep polling, more slowly, as the
   * safety net. `onError` hears of a lost connection (the broker reconnects on its own).
   * Resolves with the unsubscribe once listening (or once the first try failed).
   */
  listen?(queue: string, onPushed: (delayMs: number) => void, onError?: (message: string) => void): Promise<() => Promise<void>>;

  /**
   * Optional: which of `taskIds` have a message on the queue (waiting, delayed or leased). Lets
   * the lost-task sweep tell a task that waits for its message from one whose message is gone;
   * a broker that cannot look messages up by task (SQS) leaves it out, and is not swept.
   */
  holdsTasks?(queue: string, taskIds: readonly string[]): Promise<Set<string>>;

  /**
   * Optional: the broker moves a message away (to a dead-letter queue) once it has been received
   * this many times. The runner fails a task whose last delivery it would otherwise give back.
   */
  readonly maxReceives?: number;

  /**
   * Optional, with maxReceives: task ids of messages the broker has moved to its dead-letter
   * queue, up to `max`, left there. The lost-task sweep fails their tasks if nothing else did
   * (a worker that died during the last delivery).
   */
  deadLetteredTaskIds?(queue: string, max: number): Promise<string[]>;

  /** Messages not yet acknowledged: waiting, delayed and leased. */
  count(queue: string): Promise<number>;
  /**
   * Messages a consumer holds right now: received, and neither acknowledged nor released, with a
   * lease that has not ended. Waiting and delayed messages are not counted, nor one whose lease
   * ran out (it is waiting again). `initialize-queue --broker` reads it: a leased message would
   * come back to this broker when its worker releases it or dies.
   */
  countLeased(queue: string): Promise<number>;
  /** Deletes every message of the queue; returns how many. */
  purge(queue: string): Promise<number>;
  /**
   * Optional: deletes the messages of these tasks from the queue, waiting, delayed or leased;
   * returns how many. A worker holding one then acknowledges a message that is gone, which is
   * no error. A broker that cannot look messages up by task (SQS) leaves it out: a purge by
   * task name leaves their messages, and workers settle them unrun (their tasks are cancelled).
   */
  removeTasks?(queue: string, taskIds: readonly string[]): Promise<number>;

  /** What the broker is, for logs and for `initialize-queue` to persist. Never secrets. */
  describe(): BrokerDescription;
  close(): Promise<void>;
}

export interface OutgoingMessage {
  /** The task id, kept beside the body so a broker can log or deduplicate without parsing. */
  taskId: string;
  body: string;
  /** Not delivered before this time (epoch ms). */
  runAt?: number;
  /**
   * Messages of one group are delivered in order, one group's next only after its previous is
   * done (SQS FIFO's MessageGroupId). Brokers without groups ignore it.
   */
  groupId?: string;
  /**
   * Brokers that drop repeated sends (SQS FIFO, within five minutes) drop a message whose id they
   * have seen; default: the task id. A new publish of the same task (a move, a rerun) sets its own.
   */
  deduplicationId?: string;
}

export interface ReceiveOptions {
  /** How long the broker may wait for a message when none is visible (default 0: answer at once). */
  waitMs?: number;
  /** Ends a wait early: the worker is stopping or pausing. */
  signal?: AbortSignal;
  /**
   * Optional, for a broker that can: claim the received messages' tasks in this task log for
   * this worker in the same statement (TaskLogBroker.claim, without limits), each message's
   * outcome in its `claim`. A broker that cannot (another database) ignores it.
   */
  claimFor?: { taskLog: TaskLogBroker; workerId: string; leaseMs: number };
}

export interface ReceivedMessage {
  /** The broker's id for the message. */
  readonly id: string;
  readonly taskId: string | null;
  readonly body: string;
  /** How many times it has been received, this time included. */
  readonly receiveCount: number;
  /** Broker-specific proof of this delivery (SQS receipt handle); the id elsewhere. */
  readonly receipt: string;
  /** Set by receiveDelayed: when the message becomes visible (epoch ms). */
  readonly runAt?: number;
  /** The message's group (see OutgoingMessage.groupId), where the broker keeps groups. */
  readonly groupId?: string;
  /**
   * Set when the receive claimed the task (ReceiveOptions.claimFor): the claim, or null when it
   * could not (missing, running elsewhere, ended, or a second message of one task).
   */
  readonly claim?: ClaimResult | null;
}

export interface BrokerDescription {
  type: string;
  [option: string]: string | number | boolean | undefined;
}

/** One unique task's enqueue, for QueueBroker.pushUnique. */
export interface UniquePush {
  uniqueKey: string;
  /** Replace the pending task's params and run time instead of leaving it as it is. */
  replace: boolean;
  /** The new task's entry (its parameters are also what a replace writes). */
  entry: NewTaskLogEntry;
  /** Not delivered before this time (epoch ms); a replace sets it anew. */
  runAt?: number;
  groupId?: string;
  /** The message body for the task `id` at `revision` (the new task's, or the pending one's). */
  body(id: string, revision: number): string;
}

/** What a unique enqueue did: a new task, or the pending one left as it is or replaced. */
export type UniquePushResult = { outcome: 'added' } | { outcome: 'existing'; id: string } | { outcome: 'replaced'; id: string; revision: number };
