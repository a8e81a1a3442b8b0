import { hostname } from 'node:os';
import { randomUUID } from 'node:crypto';
import { type CallbackDefinition, CallbackTask } from './callbackTask';
import { type EnqueueOptions, type TaskSettings, checkEnqueueOptions, checkGroupId, taskSettings } from './enqueueOptions';
import { ConfigError, DuplicateTaskIdError, TaskNotFoundError, TaskRerunError, TaskqError } from './errors';
import type { JsonValue } from './json';
import { type Logger, createLogger } from './logger';
import type { Queue } from './queue';
import type { OutgoingMessage, ReceivedMessage } from './queueBroker';
import type { QueueSelectionStrategy } from './queueSelection/queueSelectionStrategy';
import { StrictPriorityStrategy } from './queueSelection/strictPriorityStrategy';
import { WeightedRandomStrategy } from './queueSelection/weightedRandomStrategy';
import type { TaskLog } from './taskLog/taskLog';
import type { TaskLogEntry } from './taskLog/taskLogEntry';
import { TaskLogFilter } from './taskLog/taskLogFilter';
import { type TaskMessage, encodeTaskMessage } from './taskMessage';
import { type RunOptions, type TaskOutcome, awaitEnd, checkRunOptions, outcomeOf } from './taskOutcome';
import { type Batch, type BatchOptions, type BatchProgress, batchProgress, enqueueBatch } from './taskBatch';
import { type ChainOptions, type RunChainOptions, enqueueChain, runChain } from './taskChain';
import { TaskFolder } from './taskFolder';
import { type PurgeOptions, type PurgeResult, type QueueDepth, purgeQueue, queueDepths } from './queueMaintenance';
import { type ClaimLimits, checkMaxConcurrent } from './taskLimits';
import { TaskRegistry } from './taskRegistry';
import { validateParams } from './paramsSchema';
import { checkTaskParams } from './taskParams';
import { type DeliveryOutcome, type PreparedDelivery, TaskRunner, entryOf } from './taskRunner';
import { type UniqueEnqueueResult, type UniqueOutcome, publishUnique } from './uniqueTasks';
import type { AbstractTask, TaskClass } from './task';
import { FINAL_STATUSES, TaskStatus } from './taskStatus';
import type { WorkerEventEmitter } from './workerEvents';

export interface QueueDispatcherOptions {
  queues: Queue[];
  /** Else the first queue. */
  defaultQueue?: string;
  /** Task (or callback) name -> queue name. */
  associations?: Record<string, string>;
  taskLog: TaskLog;
  /** The registry: only these can be run by a worker of this dispatcher. */
  tasks?: Iterable<TaskClass | CallbackDefinition>;
  /**
   * A folder of task modules loaded by task name when first met (the task REINDEX_RECORDS from
   * reindex_records.js): see TaskFolder. Tasks in it are registered too.
   */
  tasksDir?: string;
  /**
   * Task (or callback) name -> at most this many of it running at once, across every worker
   * sharing the task log; wins over the task class's static maxConcurrent.
   */
  maxConcurrent?: Record<string, number>;
  /** How a worker that consumes every queue orders them: 'weighted' (default) or 'priority'. */
  strategy?: 'weighted' | 'priority' | QueueSelectionStrategy;
  logger?: Logger;
}

export type { EnqueueOptions } from './enqueueOptions';
export type { UniqueEnqueueResult, UniqueOutcome } from './uniqueTasks';

export interface RerunOptions {
  /**
   * Called with the queue the task goes to, before anything is written: throw to refuse it (the
   * CLI refuses a queue whose messages would stay inside its own process).
   */
  checkQueue?(queue: Queue, task: AbstractTask<object>): void;
}

/** The statuses `rerun` publishes a task again from. */
const RERUNNABLE: readonly TaskStatus[] = [TaskStatus.Failed, TaskStatus.Cancelled];

/** Hears a publish: the queue's name and the names of the tasks published (one each). */
type EnqueueListener = (queue: string, taskNames: readonly string[]) => void;

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

/** Task ids looked up at once when checking that none is taken (an IN list). */
const ID_LOOKUP_CHUNK = 500;

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
  private readonly maxConcurrent: Readonly<Record<string, number>>;
  /** What the last unique enqueue of a task object did, for enqueueUnique. */
  private readonly uniqueOutcomes = new WeakMap<AbstractTask<object>, UniqueOutcome>();
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
    if (options.tasksDir !== undefined) this.registry.useFolder(new TaskFolder(options.tasksDir));
    if (options.tasks !== undefined || options.tasksDir !== undefined) {
      // A typo in an association would route that task to the default queue without a word.
      for (const task of Object.keys(this.associations)) {
        this.registry.requireKnown(task, `associations.${task}`);
      }
    }
    this.maxConcurrent = { ...(options.maxConcurrent ?? {}) };
    for (const [task, max] of Object.entries(this.maxConcurrent)) {
      checkMaxConcurrent(max, `maxConcurrent.${task}`);
      if (options.tasks !== undefined || options.tasksDir !== undefined) this.registry.requireKnown(task, `maxConcurrent.${task}`);
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
   * Enqueues a task and waits for it to end, whichever process runs it: resolves with its result
   * (what its run returned, as JSON; a returned Report's data), rejects with a TaskRunError
   * carrying its report when it failed or was cancelled. `timeout` bounds the wait
   * (TaskWaitTimeoutError; the task goes on unless `cancelOnTimeout`). The wait goes through the
   * task log: see TaskLog.waitForEnd for how soon an end is seen.
   */
  async run<R = unknown>(task: AbstractTask<object>, options: RunOptions = {}): Promise<R> {
    checkRunOptions(options);
    const { timeout, cancelOnTimeout, runTimeout, signal, ...enqueueOptions } = options;
    await this.enqueue(task, runTimeout === undefined ? enqueueOptions : { ...enqueueOptions, timeout: runTimeout });
    const outcome = outcomeOf<R>(await awaitEnd(this.taskLog, task.id, { timeoutMs: timeout, cancelOnTimeout, signal }));
    if (!outcome.ok) throw outcome.error;
    return outcome.result;
  }

  /**
   * Enqueues tasks that run one after the other, each receiving the previous one's result as
   * ctx.previousResult; a step that fails or is cancelled stops the chain (the later steps end
   * cancelled, saying why). Resolves with the tasks once all are enqueued. See enqueueChain.
   */
  chain<T extends AbstractTask<object>>(tasks: readonly T[], options?: ChainOptions): Promise<T[]> {
    return enqueueChain(this, tasks, options);
  }

  /** A chain, awaited as `run` awaits a task: the last step's result, or the stopping step's TaskRunError. */
  runChain<R = unknown>(tasks: readonly AbstractTask<object>[], options?: RunChainOptions): Promise<R> {
    return runChain<R>(this, tasks, options);
  }

  /**
   * Enqueues tasks as one batch (one write per queue) under a parent entry in the task log; with
   * `wait`, resolves once all have ended with their outcomes in order (a failed task is an
   * outcome, not a rejection); onComplete / onFailure run once when the batch has ended. See
   * enqueueBatch in taskBatch.ts.
   */
  enqueueBatch<T extends AbstractTask<object>>(tasks: readonly T[], options: BatchOptions & { wait: true }): Promise<Batch<T> & { outcomes: TaskOutcome[] }>;
  enqueueBatch<T extends AbstractTask<object>>(tasks: readonly T[], options?: BatchOptions): Promise<Batch<T>>;
  enqueueBatch<T extends AbstractTask<object>>(tasks: readonly T[], options?: BatchOptions): Promise<Batch<T>> {
    return enqueueBatch(this, tasks, options);
  }

  /** How far a batch has got (n of m done); null when the id is not a batch's. */
  batchProgress(batchId: string): Promise<BatchProgress | null> {
    return batchProgress(this, batchId);
  }

  /**
   * Publishes a registered task by its name, for callers that do not import its class (the CLI,
   * the HTTP API): a class with an object of params (checked against its `static params` schema),
   * or a callback (`shout`) with its argument. Resolves with the task, as enqueue does.
   */
  async enqueueByName(name: string, params: JsonValue = {}, options: EnqueueOptions = {}): Promise<AbstractTask<object>> {
    await this.registry.resolve(name);
    return this.enqueue(this.registry.create(name, params), options);
  }

  /**
   * Publishes tasks in one batch per queue: one task-log write and one broker write for each.
   * The same options apply to every task.
   */
  async enqueueMany<T extends AbstractTask<object>>(tasks: readonly T[], options: EnqueueOptions = {}): Promise<T[]> {
    if (this.closed) throw new TaskqError('The dispatcher is closed');
    // Every option, and every task's class defaults, are checked before anything is written.
    checkEnqueueOptions(options, this.queues);
    if (options.uniqueKey !== undefined && tasks.length !== 1) throw new ConfigError(`enqueue option uniqueKey is for one task at a time (a key names one pending task), got ${tasks.length} tasks`);
    if (options.after) await this.checkPrerequisites(tasks, options);
    // Whole ms: SQL brokers keep the run-at time in an integer column.
    const runAt = options.runAt ? options.runAt.getTime() : options.delay ? Date.now() + Math.ceil(options.delay) : undefined;
    if (tasks.length === 1) {
      // The common case, kept free of the grouping below (it is the sync queue's hot path).
      const settings = taskSettings(tasks[0], options);
      const queue = this.prepare(tasks[0], options);
      await this.publish(queue, [{ task: tasks[0], message: this.messageOf(tasks[0], options, settings) }], runAt, options);
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
    if (options.transaction) for (const queue of byQueue.keys()) checkTransactional(queue);
    for (const [queue, items] of byQueue) await this.publish(queue, items, runAt, options);
    return tasks as T[];
  }

  /**
   * The prerequisites named by `after` must be in the log (a typo would hold the tasks forever,
   * or cancel them at once), must not be the task itself, and must have ended already for a task
   * whose queue runs it at enqueue. Not checked inside the caller's transaction, whose
   * uncommitted tasks the log cannot see.
   */
  private async checkPrerequisites(tasks: readonly AbstractTask<object>[], options: EnqueueOptions): Promise<void> {
    const after = options.after ?? [];
    const own = tasks.find((task) => after.includes(task.id));
    if (own) throw new ConfigError(`enqueue option after names the task itself (${own.id}): it would wait for its own end`);
    if (options.transaction) return;
    const found = await this.taskLog.search(new TaskLogFilter().in('id', after));
    const missing = after.filter((id) => !found.some((entry) => entry.id === id));
    if (missing.length) throw new ConfigError(`enqueue option after names ${missing.length === 1 ? 'a task' : 'tasks'} not in the task log: ${missing.join(', ')}`);
    const open = found.filter((entry) => !FINAL_STATUSES.includes(entry.status));
    const sync = open.length ? tasks.map((task) => this.queueFor(task, options.queue)).find((queue) => queue.isSync()) : undefined;
    if (sync) {
      throw new ConfigError(
        `enqueue option after: queue ${sync.name} runs its tasks at enqueue, so their prerequisites must have ended, and ${open.map((entry) => `${entry.id} is ${entry.status}`).join(', ')}`,
      );
    }
  }

  /** Checks the task is registered, applies the options, and picks its queue. */
  private prepare(task: AbstractTask<object>, options: EnqueueOptions): Queue {
    if (!this.registry.has(task.name)) {
      throw new TaskqError(`Task "${task.name}" is not registered with this dispatcher; add it to the "tasks" option`);
    }
    this.registry.bind(task);
    checkTaskParams(task.logName, task.getParameters());
    const schema = (task.constructor as TaskClass).params;
    if (schema) validateParams(task.logName, schema, task.getParameters());
    if (options.label !== undefined) task.label = options.label;
    if (options.owner !== undefined) task.owner = options.owner;
    const queue = this.queueFor(task, options.queue);
    if (options.transaction) checkTransactional(queue);
    return queue;
  }

  /**
   * Enqueues a task with a uniqueKey (required in `options`) and says what happened: `created`, or
   * the pending task of the key found (`existing`) or given this task's params and run time
   * (`replaced`, with `replace: true`). Either way `task.id` is then the id of the task that holds
   * the key, so `dispatcher.run`-style waits and task-log lookups follow it. `enqueue` with the
   * same options does the same and returns the task alone.
   */
  async enqueueUnique<T extends AbstractTask<object>>(task: T, options: EnqueueOptions & { uniqueKey: string }): Promise<UniqueEnqueueResult<T>> {
    if (typeof options !== 'object' || options === null || options.uniqueKey === undefined) throw new ConfigError('enqueueUnique needs the enqueue option uniqueKey');
    await this.enqueueMany([task], options);
    return { task, outcome: this.uniqueOutcomes.get(task) ?? 'created' };
  }

  /** A task enqueued with a uniqueKey: see publishUnique in uniqueTasks.ts. */
  private async publishUnique(queue: Queue, { task, message }: Prepared, runAt: number | undefined, uniqueKey: string, options: EnqueueOptions): Promise<void> {
    const outcome = await publishUnique({
      queue,
      taskLog: this.taskLog,
      task,
      message,
      entry: entryOf(task, message, queue, TaskStatus.Enqueued),
      uniqueKey,
      replace: options.replace === true,
      runAt,
      groupId: options.groupId ?? groupIdOf(task),
      runNow: (revised) => this.runNow(queue, task.id, '', { message: revised, task }),
    });
    this.uniqueOutcomes.set(task, outcome);
    task.markEnqueued();
    if (outcome !== 'existing') for (const listener of this.listeners) listener(queue.name, [task.logName]);
  }

  /**
   * Where the message goes before the log entry (the log is not the queue's database), a task id
   * given twice would be a second message for the first task, run or dropped as a redelivery:
   * refused instead, before anything is written (DuplicateTaskIdError). Best effort: a log that
   * cannot answer does not stop the enqueue (the message goes first so that it need not), and two
   * enqueues of one id at the same instant may both pass.
   */
  private async refuseTakenIds(entries: readonly { id: string }[]): Promise<void> {
    const taken: string[] = [];
    try {
      if (entries.length === 1) {
        if (await this.taskLog.get(entries[0].id)) taken.push(entries[0].id);
      } else {
        for (let i = 0; i < entries.length; i += ID_LOOKUP_CHUNK) {
          const ids = entries.slice(i, i + ID_LOOKUP_CHUNK).map((e) => e.id);
          for (const entry of await this.taskLog.search(new TaskLogFilter().in('id', ids).limit(ids.length))) taken.push(entry.id);
        }
      }
    } catch (error) {
      this.logger.warn(`could not check the task log for task ids given twice (enqueueing anyway): ${(error as Error).message}`, {});
      return;
    }
    if (taken.length > 0) throw new DuplicateTaskIdError(taken);
  }

  /**
   * Records the tasks in the log and pushes their messages, or runs them now on a sync queue.
   * Where the queue and the log share a database, both writes are one transaction. Elsewhere the
   * message goes first: a crash before the log write leaves a message whose worker records the
   * missing entry, where the reverse order would leave an entry waiting forever for no message.
   */
  private async publish(queue: Queue, items: readonly Prepared[], runAt: number | undefined, options: EnqueueOptions): Promise<void> {
    const { groupId, transaction } = options;
    if (options.uniqueKey !== undefined) return this.publishUnique(queue, items[0], runAt, options.uniqueKey, options);
    const entries = items.map(({ task, message }) => entryOf(task, message, queue, TaskStatus.Enqueued));
    if (queue.isSync()) {
      await this.taskLog.add(entries);
      for (const { task, message } of items) {
        task.markEnqueued();
        // As TAO's sync queue: the task object itself runs, nothing is encoded or decoded.
        await this.runNow(queue, message.id, '', { message, task });
      }
      this.notifyEnqueued(queue, items);
      return;
    }
    const messages = items.map(({ task, message }) => ({ taskId: task.id, body: encodeTaskMessage(message), runAt, groupId: groupId ?? groupIdOf(task) }));
    if (transaction && queue.broker.pushInTransaction) {
      // Nothing is visible before the caller commits; a log elsewhere gets its entry from the worker.
      await queue.broker.pushInTransaction(queue.name, messages, transaction, this.taskLog.broker, entries);
      for (const { task } of items) task.markEnqueued();
      return;
    }
    const atomic = (await queue.broker.pushWithLogEntries?.(queue.name, messages, this.taskLog.broker, entries)) ?? false;
    if (!atomic) {
      await this.refuseTakenIds(entries);
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
    this.notifyEnqueued(queue, items);
  }

  private notifyEnqueued(queue: Queue, items: readonly Prepared[]): void {
    if (this.listeners.size === 0) return;
    const names = items.map(({ task }) => task.logName);
    for (const listener of this.listeners) listener(queue.name, names);
  }

  /**
   * Publishes again a task that ended `failed` or `cancelled`, by its id, on the queue its log
   * entry names (else, if this dispatcher no longer has that queue, on the task's normal queue
   * choice, with a warning). On a sync queue it has run again when this resolves. Refused with a
   * TaskRerunError when the entry is in any other status (archived included) or its task is not
   * registered here; an unknown id is a TaskNotFoundError.
   *
   * The entry first moves to `enqueued` by a compare-and-set from the status it was read in, so of
   * two reruns of one task exactly one goes on (the other is refused: the task is enqueued), and
   * nothing else can end or rerun it meanwhile. Only then is the message pushed: a push that fails
   * puts the status (and report) back and rethrows, so the task is neither lost nor run twice.
   * Until the new run ends, the entry keeps the old report and finishedAt (the task log has no
   * write that clears finishedAt); the run's end replaces both.
   *
   * What the log does not record comes from the task class, not from the first enqueue: timeout,
   * backoff, maxAttempts (as below); a delay, a chain's previous result, or per-enqueue overrides
   * are not repeated.
   */
  async rerun(id: string, options: RerunOptions = {}): Promise<AbstractTask<object>> {
    if (this.closed) throw new TaskqError('The dispatcher is closed');
    const entry = await this.taskLog.get(id);
    if (!entry) throw new TaskNotFoundError(id);
    if (entry.status === TaskStatus.Archived) {
      throw new TaskRerunError(id, entry.status, `Task ${id} is archived: an archived task cannot be run again`);
    }
    if (!RERUNNABLE.includes(entry.status)) {
      throw new TaskRerunError(id, entry.status, `Task ${id} is ${entry.status}: only a failed or cancelled task can be run again`);
    }
    const { task, queue, message, warning } = this.rebuild(entry);
    const groupId = groupIdOf(task);
    options.checkQueue?.(queue, task);

    // Nothing is pushed before this compare-and-set wins: a concurrent rerun, cancel or archive
    // that moved the entry first makes this one stop here, having written nothing.
    const from = entry.status;
    if (!(await this.taskLog.changeStatus(id, { from: [from], to: TaskStatus.Enqueued }))) {
      const now = await this.taskLog.get(id);
      if (!now) throw new TaskNotFoundError(id);
      throw new TaskRerunError(id, now.status, `Task ${id} is ${now.status}: only a failed or cancelled task can be run again (it was ${from} when read, and changed meanwhile)`);
    }
    if (warning) this.logger.warn(warning, { taskId: id, taskName: entry.taskName, queue: queue.name });
    // A task that had a parent: nothing special here. While this rerun waits or runs, a parent
    // still child_running counts it as unfinished; when it ends, the runner calls settleParent as
    // for any child, which leaves a parent that already ended (completed, failed, cancelled,
    // archived, or gone) as it is. So a rerun child never reopens its parent, and never breaks on it.
    // (A parent run again enqueues new children; its earlier ones still count when it settles.)
    const undo = async (error: unknown): Promise<void> => {
      const report = entry.report === null ? null : JSON.stringify(entry.report);
      try {
        if (await this.taskLog.changeStatus(id, { from: [TaskStatus.Enqueued], to: from, report })) return;
        const now = await this.taskLog.getStatus(id);
        this.logger.warn(`rerun of task ${id} failed (${(error as Error).message}), and the task has moved on to ${now ?? 'nothing'} meanwhile: left as it is`, { taskId: id, queue: queue.name });
      } catch (undoError) {
        this.logger.error(`rerun of task ${id} failed (${(error as Error).message}), and its status could not be put back to ${from}: ${(undoError as Error).message}. It stays enqueued without a message until the lost-task sweep fails it`, { taskId: id, queue: queue.name });
      }
    };
    if (queue.isSync()) {
      task.markEnqueued();
      try {
        // As enqueue on a sync queue: the task runs now, in this call.
        await this.runNow(queue, id, '', { message, task });
      } catch (error) {
        // Only undoes while still enqueued: a run that started owns the status.
        await undo(error);
        throw error;
      }
      return task;
    }
    try {
      // Its own deduplication id: a broker that drops repeated sends of a task id (SQS FIFO, for
      // five minutes) would drop a rerun soon after the task's first publish, or a second rerun.
      await queue.broker.push(queue.name, { taskId: id, body: encodeTaskMessage(message), groupId, deduplicationId: `${id}:rerun:${randomUUID()}` });
    } catch (error) {
      await undo(error);
      throw error;
    }
    task.markEnqueued();
    for (const listener of this.listeners) listener(queue.name, [task.logName]);
    return task;
  }

  /** The task, queue and message a rerun of this (failed or cancelled) entry publishes. */
  private rebuild(entry: TaskLogEntry): { task: AbstractTask<object>; queue: Queue; message: TaskMessage; warning?: string } {
    const { id } = entry;
    const refuse = (why: string): never => {
      throw new TaskRerunError(id, entry.status, `Task ${id} (${entry.taskName}) cannot be run again: ${why}`);
    };
    // A callback task is logged as CallbackTask:NAME; its class is CallbackTask, and NAME must be a
    // registered callback.
    const callbackPrefix = `${CallbackTask.taskName}:`;
    const className = entry.taskName.startsWith(callbackPrefix) ? CallbackTask.taskName : entry.taskName;
    if (!this.registry.has(className) || !this.registry.knows(entry.taskName)) {
      refuse(`no task named "${entry.taskName}" is registered with this dispatcher (registered: ${this.registry.names().join(', ') || 'none'})`);
    }
    const cls = this.registry.get(className);
    let task: AbstractTask<object>;
    let settings: TaskSettings;
    try {
      task = this.registry.instantiate({
        v: 1,
        id,
        name: className,
        // A copy made of JSON, as a worker decodes it from a message (and of this realm: the
        // memory log hands out structured clones).
        params: JSON.parse(JSON.stringify(entry.parameters)) as JsonValue,
        label: entry.label,
        owner: entry.owner,
        createdAt: entry.createdAt.toISOString(),
        parentId: entry.parentId,
        maxAttempts: 1,
        timeout: null,
      });
      checkTaskParams(task.logName, task.getParameters());
      settings = taskSettings(task, {});
    } catch (error) {
      return refuse(`its logged parameters do not make a task: ${(error as Error).message}`);
    }
    // The runner fails a task at once, unrun, once its stalls exceed maxStalls, and the log keeps
    // counting stalls across a rerun (it has no write that resets them): such a rerun would end
    // failed without running. Refused, saying so, rather than published to fail.
    const maxStalls = cls.maxStalls ?? 1;
    if (entry.stalls > maxStalls) {
      refuse(`its runs stalled ${entry.stalls} times (maxStalls ${maxStalls}), and the task log keeps that count, so a worker would fail it again without running it`);
    }
    // Attempts: the log's attempt counter keeps counting across the rerun (every claim adds one,
    // and it is the fencing token of the claims, so it must never go back), and the runner retries
    // while `attempt - stalls < message.maxAttempts`. For the rerun to get the class's full
    // maxAttempts again, the message allows the attempts already used on top of them: the first
    // run of the rerun is attempt `used + 1` (stalls unchanged), and it is retried up to the
    // class's maxAttempts in all. Stalls of the rerun count in both terms and cancel out.
    const used = Math.max(0, entry.attempts - entry.stalls);
    const message = this.messageOf(task, {}, { ...settings, maxAttempts: used + settings.maxAttempts });
    const recorded = entry.queue === null ? undefined : this.queues.get(entry.queue);
    if (recorded) return { task, queue: recorded, message };
    const queue = this.queueFor(task);
    const warning =
      entry.queue === null
        ? `Task ${id} (${entry.taskName}) has no queue in its log entry: it runs again on queue ${queue.name}, its normal queue choice`
        : `Task ${id} (${entry.taskName}) was on queue "${entry.queue}", which this dispatcher no longer has: it runs again on queue ${queue.name}, its normal queue choice`;
    return { task, queue, message, warning };
  }

  /** Every queue's messages and its waiting and running tasks (per task name too), in config order. */
  queueDepths(): Promise<QueueDepth[]> {
    return queueDepths(this.getQueues(), this.taskLog);
  }

  /** Cancels the queue's waiting tasks (of one name, if given) and removes their messages: see purgeQueue. */
  async purge(queue: string, options: PurgeOptions = {}): Promise<PurgeResult> {
    return purgeQueue(this.getQueue(queue), this.taskLog, options);
  }

  /**
   * Calls `listener` with the queue's name and the tasks' names after tasks were published to it
   * from this process (run, on a sync queue), reruns included; not for a caller's transaction.
   */
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
    if (options.after) {
      message.after = [...options.after];
      if (options.onPrerequisiteFailure) message.onPrerequisiteFailure = options.onPrerequisiteFailure;
      if (options.onlyOnPrerequisiteFailure) message.onlyOnPrerequisiteFailure = true;
    }
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

  /**
   * @internal the limits a claim of `task` from `queue` keeps: the queue's rateLimit, and the
   * task's maxConcurrent (this dispatcher's, else its class's). Undefined when none applies.
   */
  claimLimitsFor(queue: Queue, task: AbstractTask<object>): ClaimLimits | undefined {
    let max: number | undefined;
    for (const key of task.associationKeys()) max ??= this.maxConcurrent[key];
    max ??= (task.constructor as TaskClass).maxConcurrent;
    if (max === undefined && !queue.rateLimit) return undefined;
    const limits: ClaimLimits = {};
    if (queue.rateLimit) limits.rate = { key: queue.name, ...queue.rateLimit };
    if (max !== undefined) limits.concurrency = { taskName: task.logName, max: checkMaxConcurrent(max, `task "${task.logName}": static maxConcurrent`) };
    return limits;
  }

  /**
   * @internal whether a claim from `queue` may come under limits (its rateLimit, a maxConcurrent
   * of this dispatcher or of a task class), or may name a task not loaded yet (a task folder):
   * then a worker does not let the receive claim the tasks (ReceiveOptions.claimFor) but claims
   * each with its limits.
   */
  claimsNeedTheTask(queue: Queue): boolean {
    return queue.rateLimit !== undefined || Object.keys(this.maxConcurrent).length > 0 || this.registry.taskFolder !== undefined || this.registry.anyMaxConcurrent();
  }

  /** @internal a runner bound to this dispatcher's registry, log and enqueue. */
  createRunner(workerId: string, leaseMs: number, logger: Logger = this.logger, unknownTaskGraceMs = 0, events?: WorkerEventEmitter): TaskRunner {
    return new TaskRunner({
      registry: this.registry,
      taskLog: this.taskLog,
      logger,
      workerId,
      leaseMs,
      unknownTaskGraceMs,
      events,
      claimLimits: (queue, task) => this.claimLimitsFor(queue, task),
      enqueueChild: (parent, child, label) => {
        child.parentId = parent.id;
        if (child.owner === null) child.owner = parent.owner;
        return this.enqueue(child, label ?? child.label);
      },
    });
  }
}

/** A task's message group (SQS FIFO): its getMessageGroupId hook's answer, else its name. */
function groupIdOf(task: AbstractTask<object>): string {
  const group = task.getMessageGroupId?.(task.getParameters());
  if (group === undefined) return task.name;
  const problem = checkGroupId(group);
  if (problem) throw new ConfigError(`${task.logName}.getMessageGroupId() returned ${JSON.stringify(group)}: it ${problem}`);
  return group;
}

/** The transaction option needs a broker that can write into the caller's transaction. */
function checkTransactional(queue: Queue): void {
  if (queue.isSync() || !queue.broker.pushInTransaction) {
    throw new ConfigError(`enqueue option transaction needs a queue on the rds broker (SQL): queue "${queue.name}" is on the ${queue.isSync() ? 'sync in-memory' : queue.broker.type} broker, which cannot write inside your transaction`);
  }
}
