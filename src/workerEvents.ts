import type { EventEmitter } from 'node:events';
import type { JsonValue } from './json';
import type { Logger } from './logger';

/** The run of a task a Worker event is about. */
export interface TaskRunEvent {
  taskId: string;
  taskName: string;
  queue: string;
  /** The claim's attempt number (1 for the first run; 0 when the task was failed without a claim). */
  attempt: number;
}

export interface TaskCompletedEvent extends TaskRunEvent {
  /** How long the task's code ran. */
  durationMs: number;
  /** The report's data: what the task returned, when it returned a JSON value. */
  result?: JsonValue;
}

export interface TaskFailedEvent extends TaskRunEvent {
  /** How long the task's code ran (0 when it failed without running: unknown, undecodable, stalled too often). */
  durationMs: number;
  /** The failure's message, as in its report. */
  error: string;
}

export interface TaskRetryingEvent extends TaskRunEvent {
  durationMs: number;
  /** The back-off before the next attempt, when there is one. */
  delayMs?: number;
  error: string;
}

export interface TaskStalledEvent {
  taskId: string;
  taskName: string;
  queue: string;
  /** Runs of the task that stalled so far (the task log's count). */
  stalls: number;
}

export interface TaskProgressEvent {
  taskId: string;
  taskName: string;
  progress: JsonValue;
}

/**
 * The events of a Worker, by name, with their listeners' arguments (node's EventEmitter map):
 * `worker.on('completed', (event) => event.durationMs)` is typed, a name not here is an error.
 */
export interface WorkerEvents {
  /** A claim succeeded: the task's code starts now. */
  active: [event: TaskRunEvent];
  /** A run ended well (`completed`, or `child_running` when it enqueued children). */
  completed: [event: TaskCompletedEvent];
  /** A task ended failed: its last attempt failed, or it could not run at all. */
  failed: [event: TaskFailedEvent];
  /** A run failed and the task goes back to its queue for another attempt. */
  retrying: [event: TaskRetryingEvent];
  /**
   * A claim took over a task an earlier run of which stalled (its worker died or lost its lease).
   * The log counts stalls, not which claim made one: a task retried after a stall fires it again.
   */
  stalled: [event: TaskStalledEvent];
  /** A run reported progress (ctx.progress), once it was written to the log. */
  progress: [event: TaskProgressEvent];
  /**
   * A worker-level failure (a broker or the log unreachable); the worker keeps going. Unlike
   * node's default, a worker without an `error` listener does not throw: the error is logged.
   */
  error: [error: Error];
  /** The worker found its queues empty after it had found work. */
  drained: [];
}

/** What a TaskRunner reports its runs' events to (a Worker). */
export type WorkerEventEmitter = EventEmitter<WorkerEvents>;

/**
 * Emits `event` to its listeners, if it has any: the arguments are built only then (per-task
 * events are hot). A listener that throws is logged; it never breaks the run it was told about.
 */
export function emitWorkerEvent<K extends keyof WorkerEvents>(events: WorkerEventEmitter | undefined, logger: Logger, event: K, args: () => WorkerEvents[K]): void {
  if (!events || events.listenerCount(event) === 0) return;
  try {
    (events.emit as (name: K, ...rest: WorkerEvents[K]) => boolean)(event, ...args());
  } catch (error) {
    logger.error(`a listener of the worker's "${event}" event threw: ${error instanceof Error ? error.message : String(error)}`, { event });
  }
}
