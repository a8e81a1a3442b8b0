import type { TaskStatus } from './taskStatus';
import type { ReportData } from './report';

/** Base class of every error taskq throws on purpose. */
export class TaskqError extends Error {
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

/** Bad configuration or bad usage: the CLI prints the message alone and exits 2. */
export class ConfigError extends TaskqError {}

/** A message names a task that is not in the registry. */
export class UnknownTaskError extends TaskqError {
  constructor(
    readonly taskName: string,
    readonly registered: readonly string[],
  ) {
    super(
      `Task "${taskName}" is not registered; registered tasks: ${registered.length ? registered.join(', ') : '(none)'}`,
    );
  }
}

/** A message body that is not a taskq message. */
export class MalformedMessageError extends TaskqError {}

/** A task-log operation that the task's current status forbids (archive a running task, ...). */
export class TaskStateError extends TaskqError {}

/** A task id that the task log does not know. */
export class TaskNotFoundError extends TaskqError {
  constructor(readonly taskId: string) {
    super(`Task ${taskId} was not found in the task log`);
  }
}

/** A task that ran longer than its timeout. */
export class TaskTimeoutError extends TaskqError {
  constructor(readonly timeoutMs: number) {
    super(`Task timed out after ${timeoutMs} ms`);
  }
}

/** A run whose task-log lease its worker no longer holds: taken over, cancelled, or not renewed in time. */
export class LeaseLostError extends TaskqError {}

/**
 * A run whose task was cancelled (or archived) by force while it ran: its lease is lost like a
 * takeover's, but nothing will run the task again, so the run is over (it counts towards a
 * worker's `limit`).
 */
export class TaskCancelledError extends LeaseLostError {}

/**
 * A run failed by its own background code: an uncaught exception or unhandled rejection that
 * the process traced back to the run (see installWorkerProcessHandlers). `error` is what was thrown.
 */
export class TaskFaultError extends TaskqError {
  constructor(
    message: string,
    readonly error: unknown,
  ) {
    super(message);
  }
}

/**
 * A task that `dispatcher.rerun` cannot publish again: it is not `failed` or `cancelled` (it is
 * archived, still waiting or running, or completed), or its task is not registered with this
 * dispatcher, or its log entry cannot be turned back into a task. `status` is the status it had.
 */
export class TaskRerunError extends TaskStateError {
  constructor(
    readonly taskId: string,
    readonly status: TaskStatus,
    message: string,
  ) {
    super(message);
  }
}

/** A wait for tasks to end (`dispatcher.run`, a batch's wait) that gave up: the tasks go on. */
export class TaskWaitTimeoutError extends TaskqError {
  constructor(
    /** The tasks that had not ended. */
    readonly taskIds: readonly string[],
    readonly timeoutMs: number,
  ) {
    super(`Gave up waiting after ${timeoutMs} ms: task ${taskIds.join(', ')} had not ended (it was not cancelled)`);
  }
}

/**
 * An awaited task that did not complete: it failed (its report says why), or was cancelled or
 * archived before it could. `report` is its report as the task log keeps it.
 */
export class TaskRunError extends TaskqError {
  constructor(
    readonly taskId: string,
    readonly taskName: string,
    readonly status: TaskStatus,
    readonly report: ReportData | null,
  ) {
    super(report ? report.message : `Task ${taskName} ${taskId} ended ${status}`);
  }
}

/** Params that the task class's `static params` schema refused: each issue names its field. */
export class TaskParamsError extends ConfigError {
  constructor(
    readonly taskName: string,
    readonly issues: ReadonlyArray<{ path: string; message: string }>,
  ) {
    super(`Task "${taskName}" params are invalid: ${issues.map((issue) => (issue.path ? `${issue.path}: ${issue.message}` : issue.message)).join('; ')}`);
  }
}

/** A tasks module (of the config, or of the task folder) that could not be loaded (a syntax error, a missing dependency). */
export class TaskModuleError extends ConfigError {}

/**
 * Tasks enqueued with an id the task log already has (an explicit `new MyTask(params, { id })`
 * given twice): nothing of the enqueue was written. `taskIds` are the ids found already taken.
 */
export class DuplicateTaskIdError extends TaskqError {
  constructor(readonly taskIds: readonly string[]) {
    super(`Task id ${taskIds.map((id) => JSON.stringify(id)).join(', ')} ${taskIds.length === 1 ? 'is' : 'are'} already in the task log: a task id can be enqueued once (nothing was written; for "at most one pending task per key", use the enqueue option uniqueKey)`);
  }
}
