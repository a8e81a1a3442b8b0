import { hostname } from 'node:os';
import { randomUUID } from 'node:crypto';
import type { CallbackDefinition } from './callbackTask';
import { type EnqueueOptions, type TaskSettings, checkEnqueueOptions, taskSettings } from './enqueueOptions';
import { ConfigError, TaskqError } from './errors';
import type { JsonValue } from './json';
import { type Logger, createLogger } from './logger';
import type { Queue } from './queue';
import type { OutgoingMessage, ReceivedMessage } from './queueBroker';
import type { QueueSelectionStrategy } from './queueSelection/queueSelectionStrategy';
import { StrictPriorityStrategy } from './queueSelection/strictPriorityStrategy';
import { WeightedRandomStrategy } from './queueSelection/weightedRandomStrategy';
import type { TaskLog } from './taskLog/taskLog';
import { type TaskMessage, encodeTaskMessage } from './taskMessage';
import { TaskRegistry } from './taskRegistry';
import { checkTaskParams } from './taskParams';
import { type DeliveryOutcome, type PreparedDelivery, TaskRunner, entryOf } from './taskRunner';
import type { AbstractTask, TaskClass } from './task';
import { TaskStatus } from './taskStatus';

export interface QueueDispatcherOptions {
  queues: Queue[];
  /** Else the first queue. */
  defaultQueue?: string;
  /** Task (or callback) name -> queue name. */
  associations?: Record<string, string>;
  taskLog: TaskLog;
  /** The registry: only these can be run by a worker of this dispatcher. */
  tasks?: Iterable<TaskClass | CallbackDefinition>;
  /** How a worker that consumes every queue orders them: 'weighted' (default) or 'priority'. */
  strategy?: 'weighted' | 'priority' | QueueSelectionStrategy;
  logger?: Logger;
}

export type { EnqueueOptions } from './enqueueOptions';

type EnqueueListener = (queue: string) => void;

interface Prepared {
  task: AbstractTask<object>;
  message: TaskMessage;
}

let lastIsoMs = NaN;
let lastIso = '';

/** Date#toISOString, reused within a millisecond: tasks enqueued together share it. */
function isoString(date: Date): string {
  const ms = date.getTime();
  if (ms !== lastIsoMs) {
    lastIso = date.toISOString();
    lastIsoMs = ms;
  }
  return lastIso;
}

const SYNC_LEASE_MS = 5_000;

const SYNC_HANDLE = { acknowledge: async () => undefined, release: async () => undefined };

/**
 * The entry point of application code: routes tasks to weighted named queues, records them in
 * the task log, and runs them at once when their queue is sync.
 */
export class QueueDispatcher {
  readonly registry: TaskRegistry;
  readonly taskLog: TaskLog;
  readonly logger: Logger;
  readonly strategy: QueueSelectionStrategy;
  private readonly queues = new Map<string, Queue>();
  private readonly defaultQueueName: string;
  private readonly associations: Record<string, string>;
  private readonly listeners = new Set<EnqueueListener>();
  private syncRunner?: TaskRunner;
  private closed = false;

  constructor(options: QueueDispatcherOptions) {
    if (!options.queues || options.queues.length === 0) throw new ConfigError('QueueDispatcher needs at least one queue');
    for (const queue of options.queues) {
      if (this.queues.has(queue.name)) throw new ConfigError(`Queue "${queue.name}" is defined twice`);
      this.queues.set(queue.name, queue);
    }
    this.defaultQueueName = options.defaultQueue ?? options.queues[0].name;
    if (!this.queues.has(this.defaultQueueName)) {
      throw new ConfigError(`defaultQueue "${this.defaultQueueName}" is not one of the queues (${this.getQueueNames().join(', ')})`);
    }
    this.associations = { ...(options.associations ?? {}) };
    for (const [task, queue] of Object.entries(this.associations)) {
      if (!this.queues.has(queue)) throw new ConfigError(`associations.${task} names unknown queue "${queue}" (queues: ${this.getQueueNames().join(', ')})`);
    }
    this.taskLog = options.taskLog;
    this.registry = new TaskRegistry(options.tasks ?? []);
    if (options.tasks !== undefined) {
      // A typo in an association would route that task to the default queue without a word.
      for (const task of Object.keys(this.associations)) {
        if (!this.registry.knows(task)) throw new ConfigError(`associations.${task}: no registered task or callback is named "${task}" (registered: ${this.registry.names().join(', ') || 'none'})`);
      }
    }
    this.logger = options.logger ?? createLogger();
    const strategy = options.strategy ?? 'weighted';
    this.strategy = strategy === 'weighted' ? new WeightedRandomStrategy() : strategy === 'priority' ? new StrictPriorityStrategy() : strategy;
  }

  /** Creates every queue's container and the task log's. Idempotent. */
  async initialize(): Promise<void> {
    await this.taskLog.createContainer();
    for (const queue of this.queues.values()) await queue.initialize();
  }

  /** True when every queue runs tasks at enqueue time. */
  isSync(): boolean {
    return [...this.queues.values()].every((q) => q.isSync());
  }

  getQueue(name: string): Queue {
    const queue = this.queues.get(name);
    if (!queue) throw new ConfigError(`Unknown queue "${name}" (queues: ${this.getQueueNames().join(', ')})`);
    return queue;
  }

  getQueues(): Queue[] {
    return [...this.queues.values()];
  }

  getQueueNames(): string[] {
    return [...this.queues.keys()];
  }

  getDefaultQueue(): Queue {
    return this.getQueue(this.defaultQueueName);
  }

  /** First match wins: explicit option, the task's getQueueName hook, the associations, the default. */
  queueFor(task: AbstractTask<object>, explicit?: string): Queue {
    if (explicit) return this.getQueue(explicit);
    const fromHook = task.getQueueName?.(task.getParameters());
    if (fromHook) return this.getQueue(fromHook);
    for (const key of task.associationKeys()) {
      const associated = this.associations[key];
      if (associated) return this.getQueue(associated);
    }
    return this.getDefaultQueue();
  }

  /** Publishes a task; on a sync queue it has run (and its report is logged) when this resolves. */
  async enqueue<T extends AbstractTask<object>>(task: T, labelOrOptions?: string | EnqueueOptions, options: EnqueueOptions = {}): Promise<T> {
    const opts = typeof labelOrOptions === 'string' ? { ...options, label: labelOrOptions } : labelOrOptions ? { ...labelOrOptions, ...options } : options;
    await this.enqueueMany([task], opts);
    return task;
  }

  /**
   * Publishes tasks in one batch per queue: one task-log write and one broker write for each.
   * The same options apply to every task.
   */
  async enqueueMany<T extends AbstractTask<object>>(tasks: readonly T[], options: EnqueueOptions = {}): Promise<T[]> {
    if (this.closed) throw new TaskqError('The dispatcher is closed');
    // Every option, and every task's class defaults, are checked before anything is written.
    checkEnqueueOptions(options, this.queues);
    // Whole ms: SQL brokers keep the run-at time in an integer column.
    const runAt = options.runAt ? options.runAt.getTime() : options.delay ? Date.now() + Math.ceil(options.delay) : undefined;
    if (tasks.length === 1) {
      // The common case, kept free of the grouping below (it is the sync queue's hot path).
      const settings = taskSettings(tasks[0], options);
      const queue = this.prepare(tasks[0], options);
      await this.publish(queue, [{ task: tasks[0], message: this.messageOf(tasks[0], options, settings) }], runAt);
      return tasks as T[];
    }
    const settings = tasks.map((task) => taskSettings(task, options));
    const byQueue = new Map<Queue, Prepared[]>();
    tasks.forEach((task, i) => {
      const queue = this.prepare(task, options);
      const list = byQueue.get(queue) ?? [];
      list.push({ task, message: this.messageOf(task, options, settings[i]) });
      byQueue.set(queue, list);
    });
    for (const [queue, items] of byQueue) await this.publish(queue, items, runAt);
    return tasks as T[];
  }

  /** Checks the task is registered, applies the options, and picks its queue. */
  private prepare(task: AbstractTask<object>, options: EnqueueOptions): Queue {
    if (!this.registry.has(task.name)) {
      throw new TaskqError(`Task "${task.name}" is not registered with this dispatcher; add it to the "tasks" option`);
    }
    this.registry.bind(task);
    checkTaskParams(task.logName, task.getParameters());
    if (options.label !== undefined) task.label = options.label;
    if (options.owner !== undefined) task.owner = options.owner;
    return this.queueFor(task, options.queue);
  }

  /**
   * Records the tasks in the log and pushes their messages, or runs them now on a sync queue.
   * Where the queue and the log share a database, both writes are one transaction. Elsewhere the
   * message goes first: a crash before the log write leaves a message whose worker records the
   * missing entry, where the reverse order would leave an entry waiting forever for no message.
   */
  private async publish(queue: Queue, items: readonly Prepared[], runAt: number | undefined): Promise<void> {
    const entries = items.map(({ task, message }) => entryOf(task, message, queue, TaskStatus.Enqueued));
    if (queue.isSync()) {
      await this.taskLog.add(entries);
      for (const { task, message } of items) {
        task.markEnqueued();
        // As TAO's sync queue: the task object itself runs, nothing is encoded or decoded.
        await this.runNow(queue, message.id, '', { message, task });
      }
      return;
    }
    const messages = items.map(({ task, message }) => ({ taskId: task.id, body: encodeTaskMessage(message), runAt }));
    const atomic = (await queue.broker.pushWithLogEntries?.(queue.name, messages, this.taskLog.broker, entries)) ?? false;
    if (!atomic) {
      await queue.broker.pushMany(queue.name, messages);
      try {
        // A worker may have taken a message already and recorded its entry: leave that one be.
        await this.taskLog.addIfMissing(entries);
      } catch (error) {
        // The messages are out: their tasks run, and the worker records the missing entries.
        this.logger.warn(`tasks were enqueued but their task-log entries could not be written (a worker writes them when it takes the tasks): ${(error as Error).message}`, { queue: queue.name });
      }
    }
    for (const { task } of items) task.markEnqueued();
    for (const listener of this.listeners) listener(queue.name);
  }

  /** Calls `listener` with the queue's name after tasks were pushed to it from this process. */
  onEnqueued(listener: EnqueueListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const brokers = new Set([...this.queues.values()].map((q) => q.broker));
    for (const broker of brokers) await broker.close();
    await this.taskLog.close();
  }

  /** The task's message; `options` passed checkEnqueueOptions, `settings` are the task's (checked) values. */
  private messageOf(task: AbstractTask<object>, options: EnqueueOptions, settings: TaskSettings): TaskMessage {
    const message: TaskMessage = {
      v: 1,
      id: task.id,
      name: task.name,
      params: task.getParameters() as JsonValue,
      label: task.label,
      owner: task.owner,
      createdAt: isoString(task.createdAt),
      parentId: task.parentId,
      maxAttempts: settings.maxAttempts,
      timeout: settings.timeout,
    };
    if (settings.backoff !== undefined) message.backoff = settings.backoff;
    if (options.previousResult !== undefined) message.previousResult = options.previousResult;
    return message;
  }

  /**
   * Puts already-encoded messages (moved from another broker) on `queue` (which may be a new
   * broker for one of this dispatcher's queues): pushed as they are, or run at once when it is
   * sync, through this dispatcher's registry and task log. Their log entries exist already.
   */
  async transfer(queue: Queue, messages: readonly OutgoingMessage[]): Promise<void> {
    if (!queue.isSync()) {
      await queue.broker.pushMany(queue.name, messages);
      // A moved task was just handed on: it must not look long-waiting to a lost-task sweep that
      // still reads the old broker.
      await this.taskLog.markDequeued(messages.map((m) => m.taskId));
      return;
    }
    for (const message of messages) await this.runNow(queue, message.taskId, message.body);
  }

  /** The sync path: the same runner a worker uses, retried at once up to maxAttempts. */
  private async runNow(queue: Queue, taskId: string, body: string, prepared?: PreparedDelivery): Promise<DeliveryOutcome> {
    // A short lease, renewed while the task runs: if the log fails as the run ends, the entry is
    // left running, and the lost-task sweep can fail it soon after.
    this.syncRunner ??= this.createRunner(`sync:${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`, SYNC_LEASE_MS);
    for (let receiveCount = 1; ; receiveCount++) {
      const received: ReceivedMessage = { id: taskId, taskId, body, receiveCount, receipt: taskId };
      // Nothing to acknowledge or release: the message only lives in this call.
      const outcome = await this.syncRunner.process(queue, received, SYNC_HANDLE, prepared);
      if (outcome !== 'retry') return outcome;
    }
  }

  /** @internal a runner bound to this dispatcher's registry, log and enqueue. */
  createRunner(workerId: string, leaseMs: number, logger: Logger = this.logger, unknownTaskGraceMs = 0): TaskRunner {
    return new TaskRunner({
      registry: this.registry,
      taskLog: this.taskLog,
      logger,
      workerId,
      leaseMs,
      unknownTaskGraceMs,
      enqueueChild: (parent, child, label) => {
        child.parentId = parent.id;
        if (child.owner === null) child.owner = parent.owner;
        return this.enqueue(child, label ?? child.label);
      },
    });
  }
}
