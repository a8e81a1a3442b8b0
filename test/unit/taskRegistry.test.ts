import {
  AbstractTask,
  CallbackTask,
  ConfigError,
  TaskRegistry,
  UnknownTaskError,
  defineCallback,
  type JsonValue,
  type TaskClass,
  type TaskContext,
} from '../../src';
import type { TaskMessage } from '../../src/taskMessage';

class SendEmail extends AbstractTask<{ to: string }> {
  static override taskName = 'SendEmail';
  run() {
    return `sent to ${this.getParameter('to')}`;
  }
}

/** No static taskName: registered under its class name. */
class ResizeImage extends AbstractTask<{ width: number }> {
  run() {
    return this.getParameter('width');
  }
}

/** Inherits SendEmail's taskName but does not declare its own: its name is its class name. */
class SendFancyEmail extends SendEmail {}

const noopContext = (taskId = 't'): TaskContext => ({
  taskId,
  attempt: 1,
  signal: new AbortController().signal,
  logger: { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined },
  progress: async () => undefined,
  enqueueChild: async (task) => task,
});

function message(overrides: Partial<TaskMessage> = {}): TaskMessage {
  return {
    v: 1,
    id: 'task-1',
    name: 'SendEmail',
    params: { to: 'a@b.c' },
    label: 'Welcome',
    owner: 'alice',
    createdAt: '2024-05-01T10:00:00.000Z',
    parentId: 'parent-1',
    maxAttempts: 1,
    timeout: null,
    ...overrides,
  };
}

/** A class declared with an arbitrary static taskName. */
function taskNamed(name: string): TaskClass {
  return class extends AbstractTask<Record<string, never>> {
    static override taskName = name;
    run() {
      return null;
    }
  };
}

describe('register', () => {
  test('registers task classes under taskName, else the class name', () => {
    const registry = new TaskRegistry([SendEmail, ResizeImage, SendFancyEmail]);
    expect(registry.has('SendEmail')).toBe(true);
    expect(registry.has('ResizeImage')).toBe(true);
    expect(registry.has('SendFancyEmail')).toBe(true);
    expect(registry.get('SendEmail')).toBe(SendEmail);
    expect(registry.get('ResizeImage')).toBe(ResizeImage);
    expect(registry.get('SendFancyEmail')).toBe(SendFancyEmail);
    expect(registry.has('Nope')).toBe(false);
  });

  test('register() returns the registry and registering one class twice is harmless', () => {
    const registry = new TaskRegistry();
    expect(registry.register(SendEmail).register(SendEmail)).toBe(registry);
    expect(registry.names()).toEqual(['SendEmail']);
  });

  test('CallbackTask is always registered, but names() leaves it out', () => {
    const registry = new TaskRegistry();
    expect(registry.has('CallbackTask')).toBe(true);
    expect(registry.names()).toEqual([]);
  });

  test('names() lists tasks and callbacks (as CallbackTask:NAME), sorted', () => {
    const registry = new TaskRegistry([SendEmail, defineCallback('cleanup', () => null), ResizeImage, defineCallback('archive', () => null)]);
    expect(registry.names()).toEqual(['CallbackTask:archive', 'CallbackTask:cleanup', 'ResizeImage', 'SendEmail']);
  });

  test('two different classes under one name are rejected', () => {
    const Impostor = taskNamed('SendEmail');
    const registry = new TaskRegistry([SendEmail]);
    expect(() => registry.register(Impostor)).toThrow(ConfigError);
    expect(() => registry.register(Impostor)).toThrow('Two different task classes are registered as "SendEmail"');
    expect(registry.get('SendEmail')).toBe(SendEmail);
    expect(() => new TaskRegistry([SendEmail, Impostor])).toThrow(ConfigError);
  });

  test('a task named like the built-in CallbackTask is rejected', () => {
    expect(() => new TaskRegistry([taskNamed('CallbackTask')])).toThrow(ConfigError);
  });

  test('two different callbacks under one name are rejected; the same definition twice is fine', () => {
    const cleanup = defineCallback('cleanup', () => 1);
    const registry = new TaskRegistry([cleanup, cleanup]);
    expect(() => registry.register(defineCallback('cleanup', () => 2))).toThrow(ConfigError);
    expect(() => registry.register(defineCallback('cleanup', () => 2))).toThrow('Callback "cleanup" is registered twice');
  });

  test.each([
    ['a path', '../etc/passwd'],
    ['a space', 'a b'],
    ['a leading digit', '1task'],
    ['digits only', '9'],
    ['empty', ''],
    ['a slash', 'a/b'],
    ['SQL', "x'; DROP TABLE t; --"],
    ['a trailing newline', 'name\n'],
    ['a non-ASCII letter', 'é'],
    ['201 characters', 'x'.repeat(201)],
  ])('an invalid task name (%s) is rejected with ConfigError', (_what, name) => {
    const registry = new TaskRegistry();
    expect(() => registry.register(taskNamed(name))).toThrow(ConfigError);
    expect(() => registry.register(taskNamed(name))).toThrow(`Invalid task name "${name}"`);
    expect(registry.has(name)).toBe(false);
  });

  test.each(['../etc/passwd', 'a b', '1cb'])('an invalid callback name %j is rejected with ConfigError', (name) => {
    expect(() => new TaskRegistry([defineCallback(name, () => null)])).toThrow(ConfigError);
    expect(() => new TaskRegistry([defineCallback(name, () => null)])).toThrow(`Invalid callback name "${name}"`);
  });

  test.each([
    ['A', 'A'],
    ['_private', '_private'],
    ['$dollar', '$dollar'],
    ['app.tasks.SendEmail', 'app.tasks.SendEmail'],
    ['ns:Task-v2', 'ns:Task-v2'],
    ['200 characters', 'x'.repeat(200)],
  ])('a valid name is accepted: %s', (_what, name) => {
    const cls = taskNamed(name);
    expect(new TaskRegistry([cls]).get(name)).toBe(cls);
  });

  test('anything but a task class or a callback definition is rejected', () => {
    class NotATask {
      run() {
        return null;
      }
    }
    const registry = new TaskRegistry();
    for (const value of [NotATask, () => null, {}, 'SendEmail', { kind: 'other', name: 'x' }]) {
      expect(() => registry.register(value as unknown as TaskClass)).toThrow(ConfigError);
    }
  });
});

describe('get', () => {
  test('an unknown name throws UnknownTaskError listing the registered names', () => {
    const registry = new TaskRegistry([SendEmail, ResizeImage, defineCallback('cleanup', () => null)]);
    let caught: unknown;
    try {
      registry.get('SendSms');
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(UnknownTaskError);
    const error = caught as UnknownTaskError;
    expect(error.taskName).toBe('SendSms');
    expect(error.registered).toEqual(['CallbackTask:cleanup', 'ResizeImage', 'SendEmail']);
    expect(error.message).toBe('Task "SendSms" is not registered; registered tasks: CallbackTask:cleanup, ResizeImage, SendEmail');
  });

  test('with nothing registered the message says (none)', () => {
    expect(() => new TaskRegistry().get('X')).toThrow('Task "X" is not registered; registered tasks: (none)');
  });
});

describe('instantiate', () => {
  test('rebuilds the task a message describes: class, params and meta', () => {
    const registry = new TaskRegistry([SendEmail]);
    const task = registry.instantiate(message());
    expect(task).toBeInstanceOf(SendEmail);
    expect(task.id).toBe('task-1');
    expect(task.name).toBe('SendEmail');
    expect(task.label).toBe('Welcome');
    expect(task.owner).toBe('alice');
    expect(task.parentId).toBe('parent-1');
    expect(task.createdAt).toEqual(new Date('2024-05-01T10:00:00.000Z'));
    expect(task.getParameters()).toEqual({ to: 'a@b.c' });
  });

  test('an unregistered name throws UnknownTaskError', () => {
    const registry = new TaskRegistry([SendEmail]);
    expect(() => registry.instantiate(message({ name: 'ResizeImage' }))).toThrow(UnknownTaskError);
  });

  test('a CallbackTask message comes back bound to its function', async () => {
    const calls: JsonValue[] = [];
    const registry = new TaskRegistry([defineCallback('double', (args) => {
      calls.push(args);
      return (args as number) * 2;
    })]);
    const task = registry.instantiate(message({ name: 'CallbackTask', params: { callback: 'double', args: 21 } }));
    expect(task).toBeInstanceOf(CallbackTask);
    expect(await task.run(noopContext())).toBe(42);
    expect(calls).toEqual([21]);
  });

  test('a CallbackTask message naming an unknown callback throws UnknownTaskError', () => {
    const registry = new TaskRegistry([defineCallback('double', () => null)]);
    expect(() => registry.instantiate(message({ name: 'CallbackTask', params: { callback: 'triple', args: 1 } }))).toThrow(
      'Task "CallbackTask:triple" is not registered; registered tasks: CallbackTask:double',
    );
  });
});

describe('CallbackTask binding', () => {
  test('bind() binds a callback task and passes other tasks through', async () => {
    const registry = new TaskRegistry([SendEmail, defineCallback('greet', (args, ctx) => `hello ${String(args)} from ${ctx.taskId}`)]);
    const task = CallbackTask.of('greet', 'world', { id: 'cb-1' });
    expect(registry.bind(task)).toBe(task);
    expect(await task.run(noopContext('cb-1'))).toBe('hello world from cb-1');
    const plain = new SendEmail({ to: 'x' });
    expect(registry.bind(plain)).toBe(plain);
  });

  test('an unbound callback task refuses to run', async () => {
    await expect(CallbackTask.of('greet').run(noopContext())).rejects.toThrow('Callback "greet" is not bound to a function');
  });

  test('binding an unknown callback throws UnknownTaskError', () => {
    const registry = new TaskRegistry();
    expect(() => registry.bind(CallbackTask.of('missing'))).toThrow(UnknownTaskError);
    expect(() => registry.bind(CallbackTask.of('missing'))).toThrow('Task "CallbackTask:missing" is not registered');
  });

  test('a callback task is named CallbackTask, logged as CallbackTask:NAME, and associated by callback name first', () => {
    const task = CallbackTask.of('cleanup', { days: 3 });
    expect(task.name).toBe('CallbackTask');
    expect(task.logName).toBe('CallbackTask:cleanup');
    expect(task.associationKeys()).toEqual(['cleanup', 'CallbackTask:cleanup', 'CallbackTask']);
    expect(task.getParameters()).toEqual({ callback: 'cleanup', args: { days: 3 } });
  });

  test("a bound callback's queue option acts as its getQueueName hook", () => {
    const registry = new TaskRegistry([
      defineCallback('fixed', () => null, { queue: 'slow' }),
      defineCallback('byArgs', () => null, { queue: (args) => ((args as { big: boolean }).big ? 'slow' : undefined) }),
      defineCallback('none', () => null),
    ]);
    const fixed = registry.bind(CallbackTask.of('fixed'));
    expect(fixed.getQueueName(fixed.getParameters())).toBe('slow');
    const big = registry.bind(CallbackTask.of('byArgs', { big: true }));
    expect(big.getQueueName(big.getParameters())).toBe('slow');
    const small = registry.bind(CallbackTask.of('byArgs', { big: false }));
    expect(small.getQueueName(small.getParameters())).toBeUndefined();
    const none = registry.bind(CallbackTask.of('none'));
    expect(none.getQueueName(none.getParameters())).toBeUndefined();
  });
});
