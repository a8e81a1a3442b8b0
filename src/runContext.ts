import type { JsonValue } from './json';
import { type Logger, withFields } from './logger';
import type { AbstractTask, TaskContext } from './task';

export interface RunContextDeps {
  logger: Logger;
  progress(taskId: string, attempt: number, value: JsonValue): Promise<void>;
  /** Hears progress once it is written (a worker's `progress` event). */
  progressed?(task: AbstractTask<object>, value: JsonValue): void;
  enqueueChild(parent: AbstractTask<object>, child: AbstractTask<object>, label?: string): Promise<AbstractTask<object>>;
}

/**
 * The TaskContext of one run. Its AbortController is made only when someone asks for the signal
 * or aborts the run: most tasks never do, and a controller per run is a tenth of the cost of a
 * no-op task on the sync queue.
 */
export class RunContext implements TaskContext {
  /** Children enqueued by this run: the run ends child_running when there are any. */
  children = 0;
  private controller?: AbortController;
  private taskLogger?: Logger;

  constructor(
    private readonly task: AbstractTask<object>,
    readonly attempt: number,
    readonly previousResult: JsonValue | undefined,
    private readonly deps: RunContextDeps,
  ) {}

  get taskId(): string {
    return this.task.id;
  }

  get taskName(): string {
    return this.task.logName;
  }

  /** The worker's logger, with this task's id and name on every line. */
  get logger(): Logger {
    this.taskLogger ??= withFields(this.deps.logger, { taskId: this.task.id, taskName: this.task.logName });
    return this.taskLogger;
  }

  get signal(): AbortSignal {
    this.controller ??= new AbortController();
    return this.controller.signal;
  }

  get aborted(): boolean {
    return this.controller?.signal.aborted ?? false;
  }

  get abortReason(): unknown {
    return this.controller?.signal.reason;
  }

  abort(reason: unknown): void {
    this.controller ??= new AbortController();
    this.controller.abort(reason);
  }

  progress(value: JsonValue): Promise<void> {
    const written = this.deps.progress(this.task.id, this.attempt, value);
    const { progressed } = this.deps;
    return progressed ? written.then(() => progressed(this.task, value)) : written;
  }

  enqueueChild(child: AbstractTask<object>, label?: string): Promise<AbstractTask<object>> {
    this.children++;
    return this.deps.enqueueChild(this.task, child, label);
  }
}
