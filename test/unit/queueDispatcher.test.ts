import {
  AbstractTask,
  CallbackTask,
  ConfigError,
  InMemoryQueueBroker,
  InMemoryTaskLogBroker,
  Queue,
  QueueDispatcher,
  RdsQueueBroker,
  Report,
  StrictPriorityStrategy,
  TaskLog,
  TaskStatus,
  TaskqError,
  UnknownTaskError,
  WeightedRandomStrategy,
  Worker,
  defineCallback,
  silentLogger,
  type JsonValue,
  type OutgoingMessage,
  type QueueDispatcherOptions,
  type TaskContext,
} from '../../src';

// ---- tasks ------------------------------------------------------------------------------------

class Echo extends AbstractTask<{ value: JsonValue }> {
  static override taskName = 'Echo';
  run() {
    return this.getParameter('value');
  }
}

class ReportsError extends AbstractTask<Record<string, never>> {
  static override taskName = 'ReportsError';
  run() {
    return Report.error('the mail server said no', { code: 550 });
  }
}

class ReportsSuccess extends AbstractTask<Record<string, never>> {
  static override taskName = 'ReportsSuccess';
  run() {
    return Report.success('all good').add(Report.info('detail'));
  }
}

class Throws extends AbstractTask<{ message: string }> {
  static override taskName = 'Throws';
  async run() {
    throw new Error(this.getParameter('message'));
  }
}

/** Fails its first `failures` attempts, then succeeds with the attempt number. */
class Flaky extends AbstractTask<{ failures: number }> {
  static override taskName = 'Flaky';
  static attempts: number[] = [];
  async run(ctx: TaskContext) {
    Flaky.attempts.push(ctx.attempt);
    if (ctx.attempt <= this.getParameter('failures')) throw new Error(`attempt ${ctx.attempt} failed`);
    return { succeededOnAttempt: ctx.attempt };
  }
}

/** Flaky with three attempts as its class default. */
class PatientFlaky extends Flaky {
  static override taskName = 'PatientFlaky';
  static override maxAttempts = 3;
}

/** Waits until its signal aborts (a timeout), then resolves. */
class WaitsForAbort extends AbstractTask<Record<string, never>> {
  static override taskName = 'WaitsForAbort';
  async run(ctx: TaskContext) {
    await new Promise<void>((resolve) => ctx.signal.addEventListener('abort', () => resolve(), { once: true }));
    return 'should not be the result';
  }
}

class ShortTimeout extends WaitsForAbort {
  static override taskName = 'ShortTimeout';
  static override timeout = 30;
}

/** Picks its queue from its params. */
class Routed extends AbstractTask<{ target?: string }> {
  static override taskName = 'Routed';
  override getQueueName(params: { target?: string }) {
    return params.target;
  }
  run() {
    return null;
  }
}

class Plain extends AbstractTask<Record<string, never>> {
  static override taskName = 'Plain';
  run() {
    return null;
  }
}

class NotRegistered extends AbstractTask<Record<string, never>> {
  run() {
    return null;
  }
}

const TASKS = [Echo, ReportsError, ReportsSuccess, Throws, Flaky, PatientFlaky, WaitsForAbort, ShortTimeout, Routed, Plain];

// ---- helpers ----------------------------------------------------------------------------------

const dispatchers: QueueDispatcher[] = [];

/** A valid Date (structuredClone makes Dates of Node's realm, not jest's: no instanceof). */
const isDate = (value: unknown): boolean => Object.prototype.toString.call(value) === '[object Date]' && !Number.isNaN((value as Date).getTime());

function make(options: Partial<QueueDispatcherOptions> & Pick<QueueDispatcherOptions, 'queues'>): QueueDispatcher {
  const dispatcher = new QueueDispatcher({ taskLog: new TaskLog(new InMemoryTaskLogBroker()), tasks: TASKS, logger: silentLogger, ...options });
  dispatchers.push(dispatcher);
  return dispatcher;
}

/** A dispatcher with one sync in-memory queue. */
function syncDispatcher(extra: Partial<QueueDispatcherOptions> = {}): QueueDispatcher {
  return make({ queues: [new Queue('default', new InMemoryQueueBroker())], ...extra });
}

/** Queues on non-sync in-memory brokers: messages stay in the broker, so routing is visible. */
function asyncQueues(...names: string[]): Queue[] {
  return names.map((name) => new Queue(name, new InMemoryQueueBroker({ sync: false })));
}

afterEach(async () => {
  await Promise.all(dispatchers.splice(0).map((d) => d.close()));
  Flaky.attempts = [];
});

// ---- construction -----------------------------------------------------------------------------

describe('construction', () => {
  const log = () => new TaskLog(new InMemoryTaskLogBroker());

  test('needs at least one queue', () => {
    expect(() => new QueueDispatcher({ queues: [], taskLog: log(), logger: silentLogger })).toThrow(ConfigError);
    expect(() => new QueueDispatcher({ queues: [], taskLog: log(), logger: silentLogger })).toThrow('QueueDispatcher needs at least one queue');
  });

  test('rejects two queues with one name', () => {
    const create = () => new QueueDispatcher({ queues: asyncQueues('a', 'b', 'a'), taskLog: log(), logger: silentLogger });
    expect(create).toThrow(ConfigError);
    expect(create).toThrow('Queue "a" is defined twice');
  });

  test('rejects a defaultQueue that is not one of the queues', () => {
    const create = () => new QueueDispatcher({ queues: asyncQueues('a', 'b'), defaultQueue: 'c', taskLog: log(), logger: silentLogger });
    expect(create).toThrow(ConfigError);
    expect(create).toThrow('defaultQueue "c" is not one of the queues (a, b)');
  });

  test('rejects associations to unknown queues, naming the task and the queue', () => {
    const create = () => new QueueDispatcher({ queues: asyncQueues('a', 'b'), associations: { Echo: 'a', SendEmail: 'mail' }, taskLog: log(), logger: silentLogger });
    expect(create).toThrow(ConfigError);
    expect(create).toThrow('associations.SendEmail names unknown queue "mail" (queues: a, b)');
  });

  test('rejects registering an invalid task', () => {
    const create = () => new QueueDispatcher({ queues: asyncQueues('a'), taskLog: log(), tasks: [NotRegistered, { bogus: true } as never], logger: silentLogger });
    expect(create).toThrow(ConfigError);
  });

  test('a Queue checks its own name and weight', () => {
    const broker = new InMemoryQueueBroker();
    expect(() => new Queue('../x', broker)).toThrow(ConfigError);
    expect(() => new Queue('ok', broker, -1)).toThrow('Queue "ok": weight must be a number >= 0, got -1');
    expect(() => new Queue('ok', broker, Number.NaN)).toThrow(ConfigError);
    expect(() => new Queue('ok', broker, Infinity)).toThrow(ConfigError);
    expect(new Queue('ok', broker).weight).toBe(1);
  });

  test('the default queue is the first one unless defaultQueue names another', () => {
    expect(make({ queues: asyncQueues('first', 'second') }).getDefaultQueue().name).toBe('first');
    expect(make({ queues: asyncQueues('first', 'second'), defaultQueue: 'second' }).getDefaultQueue().name).toBe('second');
  });

  test('getQueue, getQueues and getQueueNames keep the configured order', () => {
    const queues = asyncQueues('x', 'y', 'z');
    const dispatcher = make({ queues });
    expect(dispatcher.getQueueNames()).toEqual(['x', 'y', 'z']);
    expect(dispatcher.getQueues()).toEqual(queues);
    expect(dispatcher.getQueue('y')).toBe(queues[1]);
    expect(() => dispatcher.getQueue('w')).toThrow('Unknown queue "w" (queues: x, y, z)');
  });

  test('strategy: weighted by default, priority on request, or a custom one', () => {
    expect(make({ queues: asyncQueues('a') }).strategy).toBeInstanceOf(WeightedRandomStrategy);
    expect(make({ queues: asyncQueues('a'), strategy: 'priority' }).strategy).toBeInstanceOf(StrictPriorityStrategy);
    const custom = { order: (queues: readonly Queue[]) => [...queues].reverse() };
    expect(make({ queues: asyncQueues('a'), strategy: custom }).strategy).toBe(custom);
  });
});

// ---- routing ----------------------------------------------------------------------------------

describe('routing', () => {
  const routing = () =>
    make({
      queues: asyncQueues('first', 'explicit', 'hook', 'associated', 'fallback', 'callbacks', 'cbHook'),
      defaultQueue: 'fallback',
      associations: { Routed: 'associated', Plain: 'associated', cleanup: 'callbacks', CallbackTask: 'first' },
      tasks: [...TASKS, defineCallback('cleanup', () => null), defineCallback('other', () => null), defineCallback('hooked', () => null, { queue: 'cbHook' })],
    });

  test('the explicit queue option wins over the hook and the associations', () => {
    const dispatcher = routing();
    expect(dispatcher.queueFor(new Routed({ target: 'hook' }), 'explicit').name).toBe('explicit');
  });

  test("the task's getQueueName hook wins over the associations", () => {
    const dispatcher = routing();
    expect(dispatcher.queueFor(new Routed({ target: 'hook' })).name).toBe('hook');
  });

  test('a hook that returns nothing falls through to the associations', () => {
    const dispatcher = routing();
    expect(dispatcher.queueFor(new Routed({})).name).toBe('associated');
  });

  test('associations route by task name', () => {
    expect(routing().queueFor(new Plain({})).name).toBe('associated');
  });

  test('a task with no hook and no association goes to the default queue', () => {
    expect(routing().queueFor(new Echo({ value: 1 })).name).toBe('fallback');
  });

  test('without defaultQueue the first queue is the default', () => {
    const dispatcher = make({ queues: asyncQueues('one', 'two'), associations: { Plain: 'two' } });
    expect(dispatcher.queueFor(new Echo({ value: 1 })).name).toBe('one');
    expect(dispatcher.queueFor(new Plain({})).name).toBe('two');
  });

  test('a callback task is associated by its callback name first, then by CallbackTask', () => {
    const dispatcher = routing();
    expect(dispatcher.queueFor(dispatcher.registry.bind(CallbackTask.of('cleanup'))).name).toBe('callbacks');
    expect(dispatcher.queueFor(dispatcher.registry.bind(CallbackTask.of('other'))).name).toBe('first');
  });

  test("a callback's own queue option wins over the associations", () => {
    const dispatcher = routing();
    expect(dispatcher.queueFor(dispatcher.registry.bind(CallbackTask.of('hooked'))).name).toBe('cbHook');
  });

  test('a hook or an explicit option naming an unknown queue is a ConfigError', () => {
    const dispatcher = routing();
    expect(() => dispatcher.queueFor(new Routed({ target: 'nowhere' }))).toThrow('Unknown queue "nowhere"');
    expect(() => dispatcher.queueFor(new Plain({}), 'nowhere')).toThrow(ConfigError);
  });

  test('enqueue stores each task on the queue routing chose, and logs that queue', async () => {
    const dispatcher = routing();
    const tasks = {
      explicit: await dispatcher.enqueue(new Routed({ target: 'hook' }), { queue: 'explicit' }),
      hook: await dispatcher.enqueue(new Routed({ target: 'hook' })),
      associated: await dispatcher.enqueue(new Plain({})),
      fallback: await dispatcher.enqueue(new Echo({ value: 1 })),
      callbacks: await dispatcher.enqueue(CallbackTask.of('cleanup')),
      cbHook: await dispatcher.enqueue(CallbackTask.of('hooked')),
    };
    for (const [queue, task] of Object.entries(tasks)) {
      expect(task.isEnqueued()).toBe(true);
      expect(await dispatcher.taskLog.get(task.id)).toMatchObject({ queue, status: TaskStatus.Enqueued });
      expect(await dispatcher.getQueue(queue).count()).toBe(1);
    }
    expect(await dispatcher.getQueue('first').count()).toBe(0);
  });

  test('enqueue of an unknown explicit queue throws before anything is logged', async () => {
    const dispatcher = routing();
    const task = new Plain({});
    await expect(dispatcher.enqueue(task, { queue: 'nowhere' })).rejects.toThrow(ConfigError);
    expect(await dispatcher.taskLog.get(task.id)).toBeNull();
    expect(task.isEnqueued()).toBe(false);
  });
});

// ---- isSync -----------------------------------------------------------------------------------

describe('isSync', () => {
  test('true when every queue is on a sync broker', () => {
    expect(make({ queues: [new Queue('a', new InMemoryQueueBroker()), new Queue('b', new InMemoryQueueBroker({ sync: true }))] }).isSync()).toBe(true);
  });

  test('false when one queue is not sync', () => {
    expect(make({ queues: [new Queue('a', new InMemoryQueueBroker()), new Queue('b', new InMemoryQueueBroker({ sync: false }))] }).isSync()).toBe(false);
  });

  test('false for an RDS queue', () => {
    expect(make({ queues: [new Queue('a', new InMemoryQueueBroker()), new Queue('b', new RdsQueueBroker({ connection: 'sqlite::memory:' }))] }).isSync()).toBe(false);
  });
});

// ---- enqueue on the sync queue -----------------------------------------------------------------

describe('enqueue on the sync in-memory queue', () => {
  test('an unregistered task is refused, and nothing is logged', async () => {
    const dispatcher = syncDispatcher();
    const task = new NotRegistered({});
    await expect(dispatcher.enqueue(task)).rejects.toThrow(TaskqError);
    await expect(dispatcher.enqueue(task)).rejects.toThrow('Task "NotRegistered" is not registered with this dispatcher; add it to the "tasks" option');
    expect(await dispatcher.taskLog.count()).toBe(0);
    expect(task.isEnqueued()).toBe(false);
  });

  test('a callback task naming an unregistered callback is refused', async () => {
    const dispatcher = syncDispatcher();
    await expect(dispatcher.enqueue(CallbackTask.of('nope'))).rejects.toThrow(UnknownTaskError);
    expect(await dispatcher.taskLog.count()).toBe(0);
  });

  test('the task has run and its report is in the log when enqueue returns', async () => {
    const dispatcher = syncDispatcher();
    const task = await dispatcher.enqueue(new Echo({ value: { sent: 3, to: ['a', 'b'] } }));
    expect(task.isEnqueued()).toBe(true);
    const entry = await dispatcher.taskLog.get(task.id);
    expect(entry).toMatchObject({
      id: task.id,
      taskName: 'Echo',
      status: TaskStatus.Completed,
      queue: 'default',
      parameters: { value: { sent: 3, to: ['a', 'b'] } },
      attempts: 1,
      leaseUntil: null,
    });
    expect(entry?.report).toEqual({ type: 'success', message: 'Task completed', data: { sent: 3, to: ['a', 'b'] }, children: [] });
    expect(isDate(entry?.startedAt)).toBe(true);
    expect(isDate(entry?.finishedAt)).toBe(true);
  });

  test.each<[string, JsonValue]>([
    ['a string', 'done'],
    ['a number', 42],
    ['zero', 0],
    ['false', false],
    ['null', null],
    ['an array', [1, 'two']],
  ])('a task returning %s completes with it as report.data', async (_what, value) => {
    const dispatcher = syncDispatcher();
    const task = await dispatcher.enqueue(new Echo({ value }));
    expect(await dispatcher.taskLog.getStatus(task.id)).toBe(TaskStatus.Completed);
    expect((await dispatcher.taskLog.get(task.id))?.report?.data).toEqual(value);
  });

  test('a task returning a success Report completes with that report, children included', async () => {
    const dispatcher = syncDispatcher();
    const task = await dispatcher.enqueue(new ReportsSuccess({}));
    expect(await dispatcher.taskLog.getStatus(task.id)).toBe(TaskStatus.Completed);
    expect((await dispatcher.taskLog.getReport(task.id))?.toJSON()).toEqual(Report.success('all good').add(Report.info('detail')).toJSON());
  });

  test('a task returning Report.error fails with that report', async () => {
    const dispatcher = syncDispatcher();
    const task = await dispatcher.enqueue(new ReportsError({}));
    expect(await dispatcher.taskLog.getStatus(task.id)).toBe(TaskStatus.Failed);
    expect((await dispatcher.taskLog.get(task.id))?.report).toEqual({ type: 'error', message: 'the mail server said no', data: { code: 550 }, children: [] });
  });

  test('a task that throws fails with the message and the stack in the report', async () => {
    const dispatcher = syncDispatcher();
    const task = await dispatcher.enqueue(new Throws({ message: 'disk full' }));
    const entry = await dispatcher.taskLog.get(task.id);
    expect(entry?.status).toBe(TaskStatus.Failed);
    expect(entry?.report?.type).toBe('error');
    expect(entry?.report?.message).toBe('disk full');
    const data = entry?.report?.data as { error: string; stack: string };
    expect(data.error).toBe('Error');
    expect(data.stack).toMatch(/^Error: disk full\n\s+at /);
    expect(data.stack).toContain('queueDispatcher.test.ts');
    expect(isDate(entry?.finishedAt)).toBe(true);
  });

  test('enqueue does not reject when the task fails: the failure is in the log', async () => {
    const dispatcher = syncDispatcher();
    await expect(dispatcher.enqueue(new Throws({ message: 'x' }))).resolves.toBeInstanceOf(Throws);
  });

  test('maxAttempts: 3 with two failures then a success completes on attempt 3', async () => {
    const dispatcher = syncDispatcher();
    const task = await dispatcher.enqueue(new Flaky({ failures: 2 }), { maxAttempts: 3 });
    const entry = await dispatcher.taskLog.get(task.id);
    expect(entry).toMatchObject({ status: TaskStatus.Completed, attempts: 3, report: { type: 'success', data: { succeededOnAttempt: 3 } } });
    expect(Flaky.attempts).toEqual([1, 2, 3]);
  });

  test('the static maxAttempts of the class applies without an option', async () => {
    const dispatcher = syncDispatcher();
    const task = await dispatcher.enqueue(new PatientFlaky({ failures: 2 }));
    expect(await dispatcher.taskLog.get(task.id)).toMatchObject({ status: TaskStatus.Completed, attempts: 3 });
  });

  test('the maxAttempts option overrides the static one', async () => {
    const dispatcher = syncDispatcher();
    const task = await dispatcher.enqueue(new PatientFlaky({ failures: 2 }), { maxAttempts: 2 });
    expect(await dispatcher.taskLog.get(task.id)).toMatchObject({ status: TaskStatus.Failed, attempts: 2, report: { message: 'attempt 2 failed' } });
  });

  test('without maxAttempts a failing task runs once', async () => {
    const dispatcher = syncDispatcher();
    const task = await dispatcher.enqueue(new Flaky({ failures: 1 }));
    expect(await dispatcher.taskLog.get(task.id)).toMatchObject({ status: TaskStatus.Failed, attempts: 1, report: { message: 'attempt 1 failed' } });
    expect(Flaky.attempts).toEqual([1]);
  });

  test('running out of attempts fails with the last report', async () => {
    const dispatcher = syncDispatcher();
    const task = await dispatcher.enqueue(new Flaky({ failures: 5 }), { maxAttempts: 3 });
    expect(await dispatcher.taskLog.get(task.id)).toMatchObject({ status: TaskStatus.Failed, attempts: 3, report: { message: 'attempt 3 failed' } });
  });

  test.each([0, -1, 1.5])('maxAttempts %p is refused', async (maxAttempts) => {
    const dispatcher = syncDispatcher();
    await expect(dispatcher.enqueue(new Echo({ value: 1 }), { maxAttempts })).rejects.toThrow(`maxAttempts must be an integer >= 1, got ${maxAttempts}`);
    expect(await dispatcher.taskLog.count()).toBe(0);
  });

  test('the timeout option fails a task that runs too long, with a timeout message', async () => {
    const dispatcher = syncDispatcher();
    const task = await dispatcher.enqueue(new WaitsForAbort({}), { timeout: 25 });
    const entry = await dispatcher.taskLog.get(task.id);
    expect(entry?.status).toBe(TaskStatus.Failed);
    expect(entry?.report?.message).toBe('Task timed out after 25 ms');
    expect(entry?.report?.data).toMatchObject({ error: 'TaskTimeoutError' });
  });

  test('the static timeout of the class applies without an option', async () => {
    const dispatcher = syncDispatcher();
    const task = await dispatcher.enqueue(new ShortTimeout({}));
    expect((await dispatcher.taskLog.getReport(task.id))?.message).toBe('Task timed out after 30 ms');
    expect(await dispatcher.taskLog.getStatus(task.id)).toBe(TaskStatus.Failed);
  });

  test('a label given as the second argument or among the options is logged', async () => {
    const dispatcher = syncDispatcher();
    const a = await dispatcher.enqueue(new Echo({ value: 1 }), 'as argument');
    const b = await dispatcher.enqueue(new Echo({ value: 2 }), { label: 'as option' });
    const c = await dispatcher.enqueue(new Echo({ value: 3 }));
    expect((await dispatcher.taskLog.get(a.id))?.label).toBe('as argument');
    expect((await dispatcher.taskLog.get(b.id))?.label).toBe('as option');
    expect((await dispatcher.taskLog.get(c.id))?.label).toBe('');
    expect(a.label).toBe('as argument');
  });

  test('a callback task runs its function with its args and is logged as CallbackTask:NAME', async () => {
    const calls: JsonValue[] = [];
    const dispatcher = syncDispatcher({
      tasks: [defineCallback('sum', (args) => {
        calls.push(args);
        return (args as number[]).reduce((a, b) => a + b, 0);
      })],
    });
    const task = await dispatcher.enqueue(CallbackTask.of('sum', [1, 2, 3]));
    expect(calls).toEqual([[1, 2, 3]]);
    expect(await dispatcher.taskLog.get(task.id)).toMatchObject({ taskName: 'CallbackTask:sum', status: TaskStatus.Completed, report: { data: 6 } });
  });

  test('the same task object cannot be enqueued twice', async () => {
    const dispatcher = syncDispatcher();
    const task = await dispatcher.enqueue(new Echo({ value: 1 }));
    await expect(dispatcher.enqueue(task)).rejects.toThrow();
    expect(await dispatcher.taskLog.count()).toBe(1);
  });

  test('a closed dispatcher refuses to enqueue', async () => {
    const dispatcher = syncDispatcher();
    await dispatcher.close();
    await expect(dispatcher.enqueue(new Echo({ value: 1 }))).rejects.toThrow('The dispatcher is closed');
  });
});

// ---- enqueueMany ------------------------------------------------------------------------------

describe('enqueueMany', () => {
  test('on the sync queue runs every task, in order, with one task-log write', async () => {
    const dispatcher = syncDispatcher();
    const add = jest.spyOn(dispatcher.taskLog, 'add');
    const tasks = await dispatcher.enqueueMany([new Echo({ value: 'a' }), new Echo({ value: 'b' }), new Throws({ message: 'c' })], { label: 'batch' });
    expect(add).toHaveBeenCalledTimes(1);
    expect(add.mock.calls[0][0].map((e) => e.id)).toEqual(tasks.map((t) => t.id));
    const entries = await Promise.all(tasks.map((t) => dispatcher.taskLog.get(t.id)));
    expect(entries.map((e) => [e?.status, e?.label, e?.report?.data ?? e?.report?.message])).toEqual([
      [TaskStatus.Completed, 'batch', 'a'],
      [TaskStatus.Completed, 'batch', 'b'],
      [TaskStatus.Failed, 'batch', { error: 'Error', stack: expect.stringContaining('Error: c') }],
    ]);
  });

  test('batches per queue: one task-log write and one broker write for each queue', async () => {
    const queues = asyncQueues('mail', 'images');
    const dispatcher = make({ queues, associations: { Plain: 'images' } });
    // Memory queues and a memory log share no transaction: message first, then the log entry.
    const add = jest.spyOn(dispatcher.taskLog, 'addIfMissing');
    const pushMail = jest.spyOn(queues[0].broker, 'pushMany');
    const pushImages = jest.spyOn(queues[1].broker, 'pushMany');
    const tasks = [new Echo({ value: 1 }), new Plain({}), new Echo({ value: 2 }), new Plain({}), new Echo({ value: 3 })];
    const result = await dispatcher.enqueueMany(tasks);
    expect(result).toEqual(tasks);
    expect(add).toHaveBeenCalledTimes(2);
    expect(pushMail).toHaveBeenCalledTimes(1);
    expect(pushImages).toHaveBeenCalledTimes(1);
    expect(pushMail.mock.calls[0][1].map((m) => m.taskId)).toEqual([tasks[0].id, tasks[2].id, tasks[4].id]);
    expect(pushImages.mock.calls[0][1].map((m) => m.taskId)).toEqual([tasks[1].id, tasks[3].id]);
    expect(await queues[0].count()).toBe(3);
    expect(await queues[1].count()).toBe(2);
    expect(tasks.every((t) => t.isEnqueued())).toBe(true);
    expect(await dispatcher.taskLog.count()).toBe(5);
  });

  test('one unregistered task refuses the whole batch before anything is logged or pushed', async () => {
    const queues = asyncQueues('q');
    const dispatcher = make({ queues });
    await expect(dispatcher.enqueueMany([new Echo({ value: 1 }), new NotRegistered({})])).rejects.toThrow('not registered');
    expect(await dispatcher.taskLog.count()).toBe(0);
    expect(await queues[0].count()).toBe(0);
  });

  test('an empty batch does nothing', async () => {
    const dispatcher = syncDispatcher();
    expect(await dispatcher.enqueueMany([])).toEqual([]);
    expect(await dispatcher.taskLog.count()).toBe(0);
  });

  test('the pushed message is the encoded task, with the options applied', async () => {
    const queues = asyncQueues('q');
    const dispatcher = make({ queues });
    const push = jest.spyOn(queues[0].broker, 'pushMany');
    const runAt = new Date(Date.now() + 3_600_000);
    const task = await dispatcher.enqueue(new Echo({ value: 'x' }), 'label!', { maxAttempts: 4, timeout: 1_500, runAt });
    const [message] = push.mock.calls[0][1] as OutgoingMessage[];
    expect(message.taskId).toBe(task.id);
    expect(message.runAt).toBe(runAt.getTime());
    expect(JSON.parse(message.body)).toEqual({
      v: 1,
      id: task.id,
      name: 'Echo',
      params: { value: 'x' },
      label: 'label!',
      owner: null,
      createdAt: task.createdAt.toISOString(),
      parentId: null,
      maxAttempts: 4,
      timeout: 1_500,
    });
  });

  test('delay sets runAt that far in the future', async () => {
    const queues = asyncQueues('q');
    const dispatcher = make({ queues });
    const push = jest.spyOn(queues[0].broker, 'pushMany');
    const before = Date.now();
    await dispatcher.enqueue(new Echo({ value: 1 }), { delay: 60_000 });
    const after = Date.now();
    const runAt = push.mock.calls[0][1][0].runAt as number;
    expect(runAt).toBeGreaterThanOrEqual(before + 60_000);
    expect(runAt).toBeLessThanOrEqual(after + 60_000);
  });

  test('when the broker refuses the batch, enqueue rejects and nothing is logged (no entry waits for a message)', async () => {
    const queues = asyncQueues('q');
    jest.spyOn(queues[0].broker, 'pushMany').mockRejectedValue(new Error('connection refused'));
    const dispatcher = make({ queues });
    const tasks = [new Echo({ value: 1 }), new Echo({ value: 2 })];
    await expect(dispatcher.enqueueMany(tasks)).rejects.toThrow('connection refused');
    for (const task of tasks) {
      expect(task.isEnqueued()).toBe(false);
      expect(await dispatcher.taskLog.get(task.id)).toBeNull();
    }
  });

  test('when the log refuses the entries after the messages went out, enqueue succeeds and the worker records them', async () => {
    const queues = asyncQueues('q');
    const dispatcher = make({ queues });
    jest.spyOn(dispatcher.taskLog, 'addIfMissing').mockRejectedValueOnce(new Error('log unreachable'));
    const task = await dispatcher.enqueue(new Echo({ value: 7 }));
    expect(task.isEnqueued()).toBe(true);
    expect(await dispatcher.taskLog.get(task.id)).toBeNull();
    expect(await queues[0].count()).toBe(1);
    await new Worker(dispatcher, { limit: 1, logger: silentLogger }).run();
    expect(await dispatcher.taskLog.get(task.id)).toMatchObject({ status: TaskStatus.Completed, report: { data: 7 } });
  });

  test('onEnqueued listeners hear the queue name after a push, and can unsubscribe', async () => {
    const dispatcher = make({ queues: asyncQueues('a', 'b'), associations: { Plain: 'b' } });
    const heard: string[] = [];
    const off = dispatcher.onEnqueued((queue) => heard.push(queue));
    await dispatcher.enqueueMany([new Echo({ value: 1 }), new Plain({})]);
    off();
    await dispatcher.enqueue(new Echo({ value: 2 }));
    expect(heard).toEqual(['a', 'b']);
  });
});

describe('close', () => {
  test('closes every broker once and the task log', async () => {
    const shared = new InMemoryQueueBroker({ sync: false });
    const other = new InMemoryQueueBroker({ sync: false });
    const logBroker = new InMemoryTaskLogBroker();
    const dispatcher = make({ queues: [new Queue('a', shared), new Queue('b', shared), new Queue('c', other)], taskLog: new TaskLog(logBroker) });
    const closeShared = jest.spyOn(shared, 'close');
    const closeOther = jest.spyOn(other, 'close');
    const closeLog = jest.spyOn(logBroker, 'close');
    await dispatcher.close();
    await dispatcher.close();
    expect(closeShared).toHaveBeenCalledTimes(1);
    expect(closeOther).toHaveBeenCalledTimes(1);
    expect(closeLog).toHaveBeenCalledTimes(1);
  });
});

describe('enqueue options in the message', () => {
  test('backoff per enqueue is carried in the message; a bad one is refused', async () => {
    const broker = new InMemoryQueueBroker({ sync: false });
    const dispatcher = new QueueDispatcher({ queues: [new Queue('q', broker)], taskLog: new TaskLog(new InMemoryTaskLogBroker()), tasks: [Echo], logger: silentLogger });
    await dispatcher.enqueue(new Echo({ value: 1 }), { backoff: { type: 'fixed', delay: 250 }, maxAttempts: 4, timeout: 900 });
    const [received] = await broker.receive('q', 1, 1_000);
    expect(JSON.parse(received.body)).toMatchObject({ backoff: { type: 'fixed', delay: 250 }, maxAttempts: 4, timeout: 900 });
    await expect(dispatcher.enqueue(new Echo({ value: 2 }), { backoff: { type: 'linear', delay: 1 } as never })).rejects.toThrow(/backoff must be a delay in ms/);
  });
});
