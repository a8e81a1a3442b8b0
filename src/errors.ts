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
