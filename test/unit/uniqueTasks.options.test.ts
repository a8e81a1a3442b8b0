/**
 * The unique-task options are checked like every enqueue option, before anything is written:
 * uniqueKey a string of 1 to 255 characters, replace a boolean and only with uniqueKey, neither
 * with a caller's transaction, and one task at a time.
 */
import { AbstractTask, ConfigError, InMemoryQueueBroker, InMemoryTaskLogBroker, Queue, QueueDispatcher, TaskLog, silentLogger, type EnqueueOptions } from '../../src';

class Ping extends AbstractTask<{ n: number }> {
  static override taskName = 'Ping';
  run(): number {
    return this.getParameter('n');
  }
}

function dispatcherOn(taskLog = new InMemoryTaskLogBroker()): QueueDispatcher {
  return new QueueDispatcher({ queues: [new Queue('q', new InMemoryQueueBroker({ sync: false }))], taskLog: new TaskLog(taskLog), tasks: [Ping], logger: silentLogger });
}

describe('unique task options', () => {
  const cases: [string, EnqueueOptions | Record<string, unknown>, string][] = [
    ['an empty key', { uniqueKey: '' }, 'enqueue option uniqueKey must be a non-empty string of at most 255 characters, got ""'],
    ['a key of 256 characters', { uniqueKey: 'k'.repeat(256) }, 'enqueue option uniqueKey must be a non-empty string of at most 255 characters, got "kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk…" (256 characters)'],
    ['a number as key', { uniqueKey: 42 }, 'enqueue option uniqueKey must be a non-empty string of at most 255 characters, got 42'],
    ['replace that is not a boolean', { uniqueKey: 'k', replace: 'yes' }, 'enqueue option replace must be true or false, got "yes"'],
    ['replace without a key', { replace: true }, 'enqueue option replace goes with uniqueKey: it replaces the pending task of that key'],
    ['a key inside a transaction', { uniqueKey: 'k', transaction: { query: async () => undefined } }, 'enqueue options uniqueKey and transaction cannot be used together: the key is checked and held outside your transaction'],
  ];

  test.each(cases)('%s is a ConfigError naming the option, and nothing is written', async (_what, options, message) => {
    const dispatcher = dispatcherOn();
    const error = await dispatcher.enqueue(new Ping({ n: 1 }), options as EnqueueOptions).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as Error).message).toBe(message);
    expect(await dispatcher.taskLog.count()).toBe(0);
  });

  test('a key of 255 characters (code points) is taken', async () => {
    const dispatcher = dispatcherOn();
    const result = await dispatcher.enqueueUnique(new Ping({ n: 1 }), { uniqueKey: '🔑'.repeat(255) });
    expect(result.outcome).toBe('created');
  });

  test('one task at a time: a key names one pending task', async () => {
    const dispatcher = dispatcherOn();
    await expect(dispatcher.enqueueMany([new Ping({ n: 1 }), new Ping({ n: 2 })], { uniqueKey: 'k' })).rejects.toThrow('enqueue option uniqueKey is for one task at a time (a key names one pending task), got 2 tasks');
    expect(await dispatcher.taskLog.count()).toBe(0);
  });

  test('enqueueUnique needs a key', async () => {
    const dispatcher = dispatcherOn();
    await expect(dispatcher.enqueueUnique(new Ping({ n: 1 }), {} as EnqueueOptions & { uniqueKey: string })).rejects.toThrow('enqueueUnique needs the enqueue option uniqueKey');
  });

  test('a task log that keeps no unique keys refuses the option clearly', async () => {
    const broker = new InMemoryTaskLogBroker();
    Object.defineProperty(broker, 'addUnique', { value: undefined });
    const dispatcher = dispatcherOn(broker);
    await expect(dispatcher.enqueue(new Ping({ n: 1 }), { uniqueKey: 'k' })).rejects.toThrow('enqueue option uniqueKey needs a task log that keeps unique keys: the memory task log does not');
  });
});
