/** Params that JSON would change are refused at enqueue, the same on every broker (issue 6, point 6). */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AbstractTask, CallbackTask, ConfigError, InMemoryQueueBroker, InMemoryTaskLogBroker, Queue, QueueDispatcher, RdsQueueBroker, RdsTaskLogBroker, TaskLog, defineCallback, silentLogger, type QueueBroker, type TaskLogBroker } from '../../src';

class Anything extends AbstractTask<Record<string, unknown>> {
  static override taskName = 'Anything';
  run() {
    return null;
  }
}

const backends: [string, () => { queue: QueueBroker; log: TaskLogBroker; cleanup(): void }][] = [
  ['the sync queue', () => ({ queue: new InMemoryQueueBroker(), log: new InMemoryTaskLogBroker(), cleanup: () => undefined })],
  ['an in-memory queue', () => ({ queue: new InMemoryQueueBroker({ sync: false }), log: new InMemoryTaskLogBroker(), cleanup: () => undefined })],
  [
    'SQLite',
    () => {
      const dir = mkdtempSync(join(tmpdir(), 'taskq-params-'));
      const connection = `sqlite:${join(dir, 'q.db')}`;
      return { queue: new RdsQueueBroker({ connection }), log: new RdsTaskLogBroker({ connection }), cleanup: () => rmSync(dir, { recursive: true, force: true }) };
    },
  ],
];

const cycle: Record<string, unknown> = {};
cycle.self = cycle;

describe.each(backends)('on %s', (_name, make) => {
  let dispatcher: QueueDispatcher;
  let cleanup: () => void;
  beforeEach(async () => {
    const b = make();
    cleanup = b.cleanup;
    dispatcher = new QueueDispatcher({ queues: [new Queue('q', b.queue)], taskLog: new TaskLog(b.log), tasks: [Anything, defineCallback('echo', (args) => args)], logger: silentLogger });
    await dispatcher.initialize();
  });
  afterEach(async () => {
    await dispatcher.close();
    cleanup();
  });

  test.each([
    ['NaN', { n: NaN }, 'params.n: NaN cannot be carried as JSON (it would arrive as null)'],
    ['Infinity deep inside', { a: [{ b: Infinity }] }, 'params.a[0].b: Infinity cannot be carried as JSON'],
    ['undefined in an array', { list: [1, undefined] }, 'params.list[1]: undefined in an array cannot be carried as JSON'],
    ['a Date', { at: new Date(0) }, 'params.at: a Date cannot be carried as JSON unchanged (pass date.toISOString())'],
    ['a Map', { m: new Map([['a', 1]]) }, 'params.m: a Map cannot be carried as JSON unchanged (pass Object.fromEntries(map))'],
    ['a Set', { s: new Set([1]) }, 'params.s: a Set cannot be carried as JSON unchanged (pass [...set])'],
    ['a BigInt', { big: 10n }, 'params.big: a BigInt cannot be carried as JSON (pass it as a string)'],
    ['a function', { f: () => 1 }, 'params.f: a function cannot be carried as JSON'],
    ['a cycle', cycle, 'params.self: a cycle cannot be carried as JSON'],
    ['null params', null, 'Task "Anything" params must be a plain object, got null'],
    ['array params', [1, 2], 'Task "Anything" params must be a plain object, got an array'],
  ])('%s is refused, naming where, and nothing is written', async (_what, params, message) => {
    const task = new Anything(params as Record<string, unknown>);
    await expect(dispatcher.enqueue(task)).rejects.toThrow(ConfigError);
    await expect(dispatcher.enqueue(task)).rejects.toThrow(message);
    expect(await dispatcher.taskLog.count()).toBe(0);
    expect(await dispatcher.getQueue('q').count()).toBe(0);
  });

  test("a callback's args are checked too", async () => {
    await expect(dispatcher.enqueue(CallbackTask.of('echo', { when: new Date(0) } as never))).rejects.toThrow('Task "CallbackTask:echo" params.args.when: a Date cannot be carried as JSON unchanged');
  });

  test('JSON-safe params pass, and a key whose value is undefined is allowed (JSON drops it; the task reads undefined either way)', async () => {
    await dispatcher.enqueue(new Anything({ s: 'x', n: 1.5, b: true, z: null, list: [1, 'a', { deep: [] }], missing: undefined }));
    expect(await dispatcher.taskLog.count()).toBe(1);
  });
});
