import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  AbstractTask,
  ConfigError,
  InMemoryQueueBroker,
  InMemoryTaskLogBroker,
  Queue,
  QueueDispatcher,
  RdsQueueBroker,
  RdsTaskLogBroker,
  TaskLog,
  TaskStatus,
  silentLogger,
  type EnqueueOptions,
  type JsonValue,
  type OutgoingMessage,
} from '../../src';
import { decodeTaskMessage } from '../../src/taskMessage';

// Issue 5, point 8: every enqueue option is checked at enqueue time, the same way on every broker,
// with one clear line naming the option, and nothing is written (no task-log entry, no message).

// ---- tasks ------------------------------------------------------------------------------------

class Echo extends AbstractTask<{ value: JsonValue }> {
  static override taskName = 'Echo';
  static runs = 0;
  run() {
    Echo.runs++;
    return this.getParameter('value');
  }
}

// Task classes whose static defaults are bad: caught at enqueue too, unless an option overrides them.
class ZeroTimeout extends Echo {
  static override taskName = 'ZeroTimeout';
  static override timeout = 0;
}
class HugeTimeout extends Echo {
  static override taskName = 'HugeTimeout';
  static override timeout = 2 ** 31;
}
class NoAttempts extends Echo {
  static override taskName = 'NoAttempts';
  static override maxAttempts = 0;
}
class LinearBackoff extends Echo {
  static override taskName = 'LinearBackoff';
  static override backoff = { type: 'linear', delay: 1000 } as never;
}
class NaNStalls extends Echo {
  static override taskName = 'NaNStalls';
  static override maxStalls = Number.NaN;
}

const TASKS = [Echo, ZeroTimeout, HugeTimeout, NoAttempts, LinearBackoff, NaNStalls];

// ---- brokers ----------------------------------------------------------------------------------

interface Backend {
  dispatcher: QueueDispatcher;
  queue: Queue;
  cleanup(): Promise<void>;
}

function backend(queue: Queue, taskLog: TaskLog, cleanup: () => void = () => undefined): Backend {
  const dispatcher = new QueueDispatcher({ queues: [queue], taskLog, tasks: TASKS, logger: silentLogger });
  return {
    dispatcher,
    queue,
    cleanup: async () => {
      await dispatcher.close();
      cleanup();
    },
  };
}

const BACKENDS: [string, () => Backend][] = [
  ['sync in-memory queue', () => backend(new Queue('main', new InMemoryQueueBroker()), new TaskLog(new InMemoryTaskLogBroker()))],
  ['async in-memory queue', () => backend(new Queue('main', new InMemoryQueueBroker({ sync: false })), new TaskLog(new InMemoryTaskLogBroker()))],
  [
    'SQLite file',
    () => {
      const dir = mkdtempSync(join(tmpdir(), 'taskq-enqueue-options-'));
      const connection = `sqlite:${join(dir, 'taskq.db')}`;
      return backend(new Queue('main', new RdsQueueBroker({ connection })), new TaskLog(new RdsTaskLogBroker({ connection })), () => rmSync(dir, { recursive: true, force: true }));
    },
  ],
];

// ---- cases ------------------------------------------------------------------------------------

const TIMEOUT = 'must be a positive number of ms (at most 2147483647, about 24.8 days)';
const DELAY = 'must be a number of ms >= 0';
const BACKOFF = 'must be a delay in ms >= 0 or { type: "fixed" | "exponential", delay, maxDelay? } with finite delays >= 0';
const TEXT = 'must be a string of at most 255 characters';
const KNOWN = '(options: label, owner, delay, runAt, maxAttempts, backoff, timeout, queue, groupId, transaction, uniqueKey, replace, after, onPrerequisiteFailure)';

/** [what, options, the error's message]: each is refused on every broker before anything is written. */
const BAD_OPTIONS: [string, unknown, string][] = [
  ['timeout 0', { timeout: 0 }, `enqueue option timeout ${TIMEOUT}, got 0`],
  ['timeout -1', { timeout: -1 }, `enqueue option timeout ${TIMEOUT}, got -1`],
  ['timeout NaN', { timeout: Number.NaN }, `enqueue option timeout ${TIMEOUT}, got NaN`],
  ['timeout Infinity', { timeout: Infinity }, `enqueue option timeout ${TIMEOUT}, got Infinity`],
  ['timeout past what a timer can wait', { timeout: 2 ** 31 }, `enqueue option timeout ${TIMEOUT}, got 2147483648`],
  ['timeout as a string', { timeout: '100' }, `enqueue option timeout ${TIMEOUT}, got "100"`],
  ['timeout null', { timeout: null }, `enqueue option timeout ${TIMEOUT}, got null`],
  ['delay -1', { delay: -1 }, `enqueue option delay ${DELAY}, got -1`],
  ['delay NaN', { delay: Number.NaN }, `enqueue option delay ${DELAY}, got NaN`],
  ['delay Infinity', { delay: Infinity }, `enqueue option delay ${DELAY}, got Infinity`],
  ['delay as a string', { delay: '5000' }, `enqueue option delay ${DELAY}, got "5000"`],
  ['delay past the last valid Date', { delay: 1e20 }, 'enqueue option delay is too large: 100000000000000000000 ms from now is past the latest time a Date can hold'],
  ['runAt an invalid Date', { runAt: new Date('nope') }, 'enqueue option runAt must be a valid Date, got an invalid Date'],
  ['runAt a string', { runAt: '2030-01-01T00:00:00Z' }, 'enqueue option runAt must be a valid Date, got "2030-01-01T00:00:00Z"'],
  ['runAt epoch ms', { runAt: 1_900_000_000_000 }, 'enqueue option runAt must be a valid Date, got 1900000000000'],
  ['runAt and delay together', { runAt: new Date(), delay: 1000 }, 'enqueue options runAt and delay cannot be used together: runAt is a time, delay a wait from now'],
  ['maxAttempts 0', { maxAttempts: 0 }, 'enqueue option maxAttempts must be an integer >= 1, got 0'],
  ['maxAttempts 1.5', { maxAttempts: 1.5 }, 'enqueue option maxAttempts must be an integer >= 1, got 1.5'],
  ['maxAttempts NaN', { maxAttempts: Number.NaN }, 'enqueue option maxAttempts must be an integer >= 1, got NaN'],
  ['maxAttempts Infinity', { maxAttempts: Infinity }, 'enqueue option maxAttempts must be an integer >= 1, got Infinity'],
  ['maxAttempts as a string', { maxAttempts: '3' }, 'enqueue option maxAttempts must be an integer >= 1, got "3"'],
  ['backoff -1', { backoff: -1 }, `enqueue option backoff ${BACKOFF}, got -1`],
  ['backoff NaN', { backoff: Number.NaN }, `enqueue option backoff ${BACKOFF}, got NaN`],
  ['backoff Infinity', { backoff: Infinity }, `enqueue option backoff ${BACKOFF}, got Infinity`],
  ['backoff of an unknown type', { backoff: { type: 'linear', delay: 100 } }, `enqueue option backoff ${BACKOFF}, got { type: "linear", delay: 100 }`],
  ['backoff with an Infinity delay', { backoff: { type: 'fixed', delay: Infinity } }, `enqueue option backoff ${BACKOFF}, got { type: "fixed", delay: Infinity }`],
  ['backoff with a NaN maxDelay', { backoff: { type: 'exponential', delay: 10, maxDelay: Number.NaN } }, `enqueue option backoff ${BACKOFF}, got { type: "exponential", delay: 10, maxDelay: NaN }`],
  ['backoff with a misspelled key', { backoff: { type: 'exponential', delay: 10, maxdelay: 100 } }, `enqueue option backoff ${BACKOFF}, got { type: "exponential", delay: 10, maxdelay: 100 }`],
  ['label a number', { label: 5 }, `enqueue option label ${TEXT}, got 5`],
  ['label null', { label: null }, `enqueue option label ${TEXT}, got null`],
  ['label of 256 characters', { label: 'x'.repeat(256) }, `enqueue option label ${TEXT}, got "${'x'.repeat(40)}…" (256 characters)`],
  ['owner a number', { owner: 42 }, `enqueue option owner ${TEXT}, got 42`],
  ['owner of 256 characters', { owner: 'é'.repeat(256) }, `enqueue option owner ${TEXT}, got "${'é'.repeat(40)}…" (256 characters)`],
  ['queue empty', { queue: '' }, 'enqueue option queue must be a non-empty string, got ""'],
  ['queue a number', { queue: 1 }, 'enqueue option queue must be a non-empty string, got 1'],
  ['queue unknown', { queue: 'nowhere' }, 'enqueue option queue names unknown queue "nowhere" (queues: main)'],
  ['a misspelled option', { delayMs: 1000 }, `unknown enqueue option "delayMs" ${KNOWN}`],
  ['an option taskq does not have', { priority: 1 }, `unknown enqueue option "priority" ${KNOWN}`],
];

/** [what, a task, the error's message]: a bad static default of the task's class, or bad meta of the task. */
const BAD_TASKS: [string, () => Echo, string][] = [
  ['static timeout 0', () => new ZeroTimeout({ value: 1 }), `task "ZeroTimeout": static timeout ${TIMEOUT}, got 0`],
  ['static timeout past what a timer can wait', () => new HugeTimeout({ value: 1 }), `task "HugeTimeout": static timeout ${TIMEOUT}, got 2147483648`],
  ['static maxAttempts 0', () => new NoAttempts({ value: 1 }), 'task "NoAttempts": static maxAttempts must be an integer >= 1, got 0'],
  ['static backoff of an unknown type', () => new LinearBackoff({ value: 1 }), `task "LinearBackoff": static backoff ${BACKOFF}, got { type: "linear", delay: 1000 }`],
  ['static maxStalls NaN', () => new NaNStalls({ value: 1 }), 'task "NaNStalls": static maxStalls must be an integer >= 0, got NaN'],
  // A worker's decoder (and the task log's id column) take ids of at most 64 characters.
  ['an id of 65 characters', () => new Echo({ value: 1 }, { id: 'i'.repeat(65) }), `task "Echo": id must be a non-empty string of at most 64 characters, got "${'i'.repeat(40)}…" (65 characters)`],
  ['an invalid createdAt', () => new Echo({ value: 1 }, { createdAt: new Date(Number.NaN) }), 'task "Echo": createdAt must be a valid Date, got an invalid Date'],
  ['a label of 256 characters', () => new Echo({ value: 1 }, { label: 'l'.repeat(256) }), `task "Echo": label must be a string of at most 255 characters, got "${'l'.repeat(40)}…" (256 characters)`],
  ['an owner of 256 characters', () => new Echo({ value: 1 }, { owner: 'o'.repeat(256) }), `task "Echo": owner must be null or a string of at most 255 characters, got "${'o'.repeat(40)}…" (256 characters)`],
];

/** Options at the edge of what is valid: accepted, and the pushed message decodes. */
const VALID_OPTIONS: [string, EnqueueOptions][] = [
  ['timeout 1', { timeout: 1 }],
  ['timeout at the most a timer can wait', { timeout: 2 ** 31 - 1 }],
  ['timeout a fraction of a ms', { timeout: 0.5 }],
  ['delay 0', { delay: 0 }],
  ['runAt in the past', { runAt: new Date(Date.now() - 60_000) }],
  ['maxAttempts 1', { maxAttempts: 1 }],
  ['backoff 0', { backoff: 0 }],
  ['backoff fixed 0', { backoff: { type: 'fixed', delay: 0 } }],
  ['backoff exponential with maxDelay', { backoff: { type: 'exponential', delay: 10, maxDelay: 100 } }],
  ['an empty label', { label: '' }],
  ['a label of 255 characters outside the BMP', { label: '😀'.repeat(255) }],
  ['an owner', { owner: 'user-1' }],
  ['the queue by name', { queue: 'main' }],
  ['options left undefined', { label: undefined, delay: undefined, runAt: undefined, timeout: undefined, queue: undefined }],
];

// ---- tests ------------------------------------------------------------------------------------

/** What enqueue rejected with (failing the test if it resolved). */
async function rejection(promise: Promise<unknown>): Promise<Error> {
  const error = await promise.then(
    () => new Error('enqueue resolved: expected it to reject'),
    (e: unknown) => e as Error,
  );
  return error;
}

describe.each(BACKENDS)('enqueue options on the %s', (_, create) => {
  let b: Backend;
  beforeEach(async () => {
    b = create();
    await b.dispatcher.initialize();
    Echo.runs = 0;
  });
  afterEach(() => b.cleanup());

  async function expectNothingWritten(taskIds: string[]): Promise<void> {
    expect(await b.dispatcher.taskLog.count()).toBe(0);
    for (const id of taskIds) expect(await b.dispatcher.taskLog.get(id)).toBeNull();
    expect(await b.queue.count()).toBe(0);
    expect(Echo.runs).toBe(0);
  }

  test.each(BAD_OPTIONS)('%s is refused, naming the option, and nothing is written', async (_what, options, message) => {
    const task = new Echo({ value: 1 });
    const error = await rejection(b.dispatcher.enqueue(task, options as EnqueueOptions));
    expect(error).toBeInstanceOf(ConfigError);
    expect(error.message).toBe(message);
    expect(task.isEnqueued()).toBe(false);
    await expectNothingWritten([task.id]);
  });

  // (A label argument replaces the label option, so the label cases are left out of this form.)
  test.each(BAD_OPTIONS.filter(([, options]) => !Object.hasOwn(options as object, 'label')))('%s is refused with a label argument too', async (_what, options, message) => {
    const task = new Echo({ value: 1 });
    await expect(b.dispatcher.enqueue(task, 'a label', options as EnqueueOptions)).rejects.toThrow(message);
    await expectNothingWritten([task.id]);
  });

  test.each(BAD_OPTIONS)('%s refuses a whole batch', async (_what, options, message) => {
    const batch = [new Echo({ value: 1 }), new Echo({ value: 2 })];
    await expect(b.dispatcher.enqueueMany(batch, options as EnqueueOptions)).rejects.toThrow(message);
    await expectNothingWritten(batch.map((t) => t.id));
  });

  test.each(BAD_TASKS)('a task with %s is refused, and nothing is written', async (_what, make, message) => {
    const task = make();
    const error = await rejection(b.dispatcher.enqueue(task));
    expect(error).toBeInstanceOf(ConfigError);
    expect(error.message).toBe(message);
    await expectNothingWritten([task.id]);
  });

  test.each(BAD_TASKS)('one task with %s refuses its whole batch', async (_what, make, message) => {
    const batch = [new Echo({ value: 1 }), make(), new Echo({ value: 3 })];
    await expect(b.dispatcher.enqueueMany(batch)).rejects.toThrow(message);
    await expectNothingWritten(batch.map((t) => t.id));
  });

  test('an option overriding a bad static default is enough', async () => {
    await b.dispatcher.enqueue(new ZeroTimeout({ value: 1 }), { timeout: 1000 });
    await b.dispatcher.enqueue(new NoAttempts({ value: 1 }), { maxAttempts: 2 });
    await b.dispatcher.enqueue(new LinearBackoff({ value: 1 }), { backoff: 10 });
    await b.dispatcher.enqueue(new Echo({ value: 1 }, { label: 'l'.repeat(256) }), { label: 'short' });
    expect(await b.dispatcher.taskLog.count()).toBe(4);
  });

  test('options that are not an object are refused', async () => {
    const task = new Echo({ value: 1 });
    await expect(b.dispatcher.enqueueMany([task], 5 as never)).rejects.toThrow('enqueue options must be an object, got 5');
    await expect(b.dispatcher.enqueueMany([task], [] as never)).rejects.toThrow('enqueue options must be an object, got an array');
    await expectNothingWritten([task.id]);
  });

  test.each(VALID_OPTIONS)('%s is accepted, and a worker can decode the message', async (_what, options) => {
    const task = await b.dispatcher.enqueue(new Echo({ value: 'ok' }), options);
    expect(task.isEnqueued()).toBe(true);
    const entry = await b.dispatcher.taskLog.get(task.id);
    expect(entry).not.toBeNull();
    if (b.queue.isSync()) {
      expect(entry?.status).toBe(TaskStatus.Completed);
      return;
    }
    const [received, ...more] = await b.queue.broker.receive(b.queue.name, 10, 60_000);
    expect(more).toEqual([]);
    expect(received.taskId).toBe(task.id);
    expect(decodeTaskMessage(received.body)).toMatchObject({ id: task.id, label: options.label ?? '' });
  });
});

describe.each(BACKENDS.filter(([name]) => !name.startsWith('sync')))('delay on the %s', (_, create) => {
  let b: Backend;
  beforeEach(async () => {
    b = create();
    await b.dispatcher.initialize();
  });
  afterEach(() => b.cleanup());

  test('a fractional delay gives a whole-ms run time (SQL brokers store it as an integer)', async () => {
    // Where the log shares the queue's database the messages go out with the log entries.
    const push = b.queue.broker.pushWithLogEntries ? jest.spyOn(b.queue.broker as Required<typeof b.queue.broker>, 'pushWithLogEntries') : jest.spyOn(b.queue.broker, 'pushMany');
    const before = Date.now();
    await b.dispatcher.enqueue(new Echo({ value: 1 }), { delay: 1000.25 });
    const [message] = push.mock.calls[0][1] as OutgoingMessage[];
    expect(Number.isInteger(message.runAt)).toBe(true);
    expect(message.runAt).toBeGreaterThanOrEqual(before + 1001);
    expect(await b.queue.count()).toBe(1);
  });
});
