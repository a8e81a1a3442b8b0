import type { JsonValue } from './json';
import { AbstractTask, type TaskContext, type TaskMeta, type TaskResult } from './task';

export type CallbackFunction = (args: JsonValue, ctx: TaskContext) => TaskResult | Promise<TaskResult>;

/** A plain function registered under a name, so that `CallbackTask` can run it. */
export interface CallbackDefinition {
  readonly kind: 'taskq.callback';
  readonly name: string;
  readonly fn: CallbackFunction;
  /** Queue for this callback, like a task's getQueueName hook. */
  readonly queue?: string | ((args: JsonValue) => string | undefined);
}

export function defineCallback(
  name: string,
  fn: CallbackFunction,
  options: { queue?: CallbackDefinition['queue'] } = {},
): CallbackDefinition {
  return { kind: 'taskq.callback', name, fn, queue: options.queue };
}

export function isCallbackDefinition(value: unknown): value is CallbackDefinition {
  return typeof value === 'object' && value !== null && (value as { kind?: unknown }).kind === 'taskq.callback';
}

export interface CallbackParams {
  callback: string;
  args: JsonValue;
  [key: string]: JsonValue;
}

/**
 * Wraps a registered function (TAO's CallbackTask around an action): the message stores the
 * function's name and its arguments; the worker looks the name up in its registry.
 */
export class CallbackTask extends AbstractTask<CallbackParams> {
  static override taskName = 'CallbackTask';
  private definition?: CallbackDefinition;

  constructor(params: CallbackParams, meta?: TaskMeta) {
    super(params, meta);
  }

  static of(callback: string, args: JsonValue = null, meta?: TaskMeta): CallbackTask {
    return new CallbackTask({ callback, args }, meta);
  }

  get callbackName(): string {
    return this.params.callback;
  }

  /** @internal the registry binds the function before the task runs or is routed. */
  bind(definition: CallbackDefinition): this {
    this.definition = definition;
    return this;
  }

  override getQueueName(params: CallbackParams): string | undefined {
    const queue = this.definition?.queue;
    return typeof queue === 'function' ? queue(params.args) : queue;
  }

  override get logName(): string {
    return `${this.name}:${this.params.callback}`;
  }

  override associationKeys(): string[] {
    return [this.params.callback, `${this.name}:${this.params.callback}`, this.name];
  }

  async run(ctx: TaskContext): Promise<TaskResult> {
    if (!this.definition) throw new Error(`Callback "${this.params.callback}" is not bound to a function`);
    return this.definition.fn(this.params.args, ctx);
  }
}
