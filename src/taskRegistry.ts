import { type CallbackDefinition, CallbackTask, isCallbackDefinition } from './callbackTask';
import { ConfigError, UnknownTaskError } from './errors';
import { isJsonObject, type JsonValue } from './json';
import { isParamsSchema } from './paramsSchema';
import type { TaskFolder } from './taskFolder';
import type { TaskMessage } from './taskMessage';
import { type AbstractTask, TASK_CLASS_MARK, type TaskClass, isTaskClass, taskNameOf } from './task';

/** Task and callback names: what a message may carry. Never a path, never SQL. */
const NAME_PATTERN = /^[A-Za-z_$][\w$.:-]{0,199}$/;

export function assertValidName(kind: string, name: string): void {
  if (!NAME_PATTERN.test(name)) {
    throw new ConfigError(`Invalid ${kind} name "${name}": use letters, digits, _ $ . : - (at most 200, not starting with a digit)`);
  }
}

/** The tasks a process may run. A message naming anything else fails instead of running. */
export class TaskRegistry {
  private readonly tasks = new Map<string, TaskClass>();
  private readonly callbacks = new Map<string, CallbackDefinition>();
  /** Where a task or callback came from (a module of the config, a file of the task folder), by its listed name. */
  private readonly origins = new Map<string, string>();
  private folder: TaskFolder | undefined;

  constructor(entries: Iterable<TaskClass | CallbackDefinition> = []) {
    this.register(CallbackTask);
    for (const entry of entries) this.register(entry);
  }

  register(entry: TaskClass | CallbackDefinition): this {
    if (isCallbackDefinition(entry)) {
      assertValidName('callback', entry.name);
      const existing = this.callbacks.get(entry.name);
      if (existing && existing.fn !== entry.fn) throw new ConfigError(`Callback "${entry.name}" is registered twice`);
      this.callbacks.set(entry.name, entry);
      return this;
    }
    if (!isTaskClass(entry)) {
      const marked = typeof entry === 'function' && (entry as unknown as Record<symbol, unknown>)[TASK_CLASS_MARK] === true;
      if (marked) throw new ConfigError(`Task class ${(entry as { name?: string }).name || '(anonymous)'} has no run() method: implement run(ctx) to register it`);
      throw new ConfigError('Only AbstractTask subclasses and defineCallback() results can be registered');
    }
    const name = taskNameOf(entry);
    assertValidName('task', name);
    if (entry.params !== undefined && !isParamsSchema(entry.params)) {
      throw new ConfigError(`Task class ${name}: static params must be a schema (zod 4, or any Standard Schema v1), got ${typeof entry.params}`);
    }
    const existing = this.tasks.get(name);
    if (existing && existing !== entry) throw new ConfigError(`Two different task classes are registered as "${name}"`);
    this.tasks.set(name, entry);
    return this;
  }

  /** Tasks not registered yet are looked for in this folder by `resolve` (see TaskFolder). */
  useFolder(folder: TaskFolder): this {
    this.folder = folder;
    return this;
  }

  get taskFolder(): TaskFolder | undefined {
    return this.folder;
  }

  /**
   * True when `name` is registered, or could be loaded from the task folder, which is then done:
   * what a worker meeting an unknown name and enqueueByName call before giving up on a name.
   * A file of the folder that does not load, or lacks the task, is an error.
   */
  async resolve(name: string): Promise<boolean> {
    if (this.knows(name)) return true;
    const entry = await this.folder?.load(name);
    if (!entry) return false;
    this.register(entry);
    this.setOrigin(entry, `tasksDir: ${this.folder?.fileFor(name) ?? name}`);
    return true;
  }

  /** Records where a registered entry came from, for `taskq tasks`. */
  setOrigin(entry: TaskClass | CallbackDefinition, origin: string): void {
    this.origins.set(isCallbackDefinition(entry) ? `${CallbackTask.taskName}:${entry.name}` : taskNameOf(entry), origin);
  }

  /** Where a listed name came from, if it was recorded (else: given in code). */
  originOf(name: string): string | undefined {
    return this.origins.get(name);
  }

  has(name: string): boolean {
    return this.tasks.has(name);
  }

  /** True when `key` names a registered task or callback (`shout` or `CallbackTask:shout`). */
  knows(key: string): boolean {
    const callbackPrefix = `${CallbackTask.taskName}:`;
    if (key.startsWith(callbackPrefix)) return this.callbacks.has(key.slice(callbackPrefix.length));
    return this.tasks.has(key) || this.callbacks.has(key);
  }

  /**
   * Checks a name the config refers to (an association, a limit, a schedule's task): registered,
   * or with a file in the task folder (loaded only when a task of it runs). `where` names the option.
   */
  requireKnown(name: string, where: string): void {
    if (this.knows(name) || this.folder?.fileFor(name)) return;
    throw new ConfigError(`${where}: no registered task or callback is named "${name}" (registered: ${this.names().join(', ') || 'none'})`);
  }

  get(name: string): TaskClass {
    const cls = this.tasks.get(name);
    if (!cls) throw new UnknownTaskError(name, this.names());
    return cls;
  }

  /** True when a registered task class declares a static maxConcurrent (callbacks cannot). */
  anyMaxConcurrent(): boolean {
    for (const cls of this.tasks.values()) if (cls.maxConcurrent !== undefined) return true;
    return false;
  }

  /** Registered task names and callback names, sorted. */
  names(): string[] {
    return [...[...this.tasks.keys()].filter((n) => n !== CallbackTask.taskName), ...[...this.callbacks.keys()].map((n) => `${CallbackTask.taskName}:${n}`)].sort();
  }

  /** Binds a CallbackTask to its function; any other task passes through. */
  bind<T extends AbstractTask<object>>(task: T): T {
    if (task instanceof CallbackTask) {
      const definition = this.callbacks.get(task.callbackName);
      if (!definition) throw new UnknownTaskError(`${CallbackTask.taskName}:${task.callbackName}`, this.names());
      task.bind(definition);
    }
    return task;
  }

  /**
   * A new task by its registered name, as a caller that does not import the class has it (the
   * CLI, the HTTP API): a task class by its name with an object of params, or a callback by its
   * name (`shout` or `CallbackTask:shout`) with its argument. An unknown name is a ConfigError that
   * lists what is registered.
   */
  create(name: string, params: JsonValue = {}): AbstractTask<object> {
    if (this.tasks.has(name) && name !== CallbackTask.taskName) {
      if (!isJsonObject(params)) throw new ConfigError(`Task "${name}" params must be a JSON object, got ${Array.isArray(params) ? 'an array' : params === null ? 'null' : typeof params}`);
      const cls = this.get(name) as unknown as new (params: object) => AbstractTask<object>;
      return new cls(params);
    }
    const callback = name.startsWith(`${CallbackTask.taskName}:`) ? name.slice(CallbackTask.taskName.length + 1) : name;
    if (this.callbacks.has(callback)) return this.bind(CallbackTask.of(callback, params));
    throw new ConfigError(`Unknown task "${name}"; registered: ${this.names().join(', ') || '(none)'}`);
  }

  /** Rebuilds the task a message describes. Throws UnknownTaskError for unregistered names. */
  instantiate(message: TaskMessage): AbstractTask<object> {
    const cls = this.get(message.name) as unknown as new (params: object, meta: object) => AbstractTask<object>;
    const task = new cls(message.params as object, {
      id: message.id,
      label: message.label,
      owner: message.owner,
      createdAt: new Date(message.createdAt),
      parentId: message.parentId,
    });
    return this.bind(task);
  }
}
