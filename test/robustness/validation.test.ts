/** Nonsense in code-level configuration is refused with a message that names it (issue 6). */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AbstractTask, CallbackTask, ConfigError, InMemoryQueueBroker, InMemoryTaskLogBroker, Queue, QueueDispatcher, TaskLog, TaskRegistry, defineCallback, loadConfig, silentLogger } from '../../src';

class SendEmail extends AbstractTask<{ to: string }> {
  static override taskName = 'SendEmail';
  run() {
    return 'sent';
  }
}

const queues = () => [new Queue('default', new InMemoryQueueBroker({ sync: false })), new Queue('mail', new InMemoryQueueBroker({ sync: false }))];
const shout = defineCallback('shout', () => 'HEY');
const dispatcher = (associations: Record<string, string>) =>
  new QueueDispatcher({ queues: queues(), associations, taskLog: new TaskLog(new InMemoryTaskLogBroker()), tasks: [SendEmail, shout], logger: silentLogger });

describe('associations', () => {
  test('one naming a task that is not registered is refused (a typo would route to the default queue)', () => {
    expect(() => dispatcher({ SendEmial: 'mail' })).toThrow(ConfigError);
    expect(() => dispatcher({ SendEmial: 'mail' })).toThrow('associations.SendEmial: no registered task or callback is named "SendEmial" (registered: CallbackTask:shout, SendEmail)');
  });

  test.each(['shout', 'CallbackTask:shout', 'CallbackTask'])('a callback may be named %s, and routes there', async (key) => {
    const d = dispatcher({ [key]: 'mail' });
    const task = await d.enqueue(CallbackTask.of('shout'));
    expect((await d.taskLog.get(task.id))?.queue).toBe('mail');
  });

  test('a known task routes as before', async () => {
    const d = dispatcher({ SendEmail: 'mail' });
    expect(d.queueFor(new SendEmail({ to: 'a@b.c' })).name).toBe('mail');
  });
});

describe('the task registry', () => {
  test('a task class without run() says so, instead of "not an AbstractTask subclass"', () => {
    // A subclass whose author forgot run(): TypeScript would stop it, JavaScript does not.
    const NoRun = class NoRun extends (AbstractTask as unknown as new (params: object) => object) {};
    expect(() => new TaskRegistry([NoRun as never])).toThrow('Task class NoRun has no run() method: implement run(ctx) to register it');
  });
});

describe('loadConfig', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'taskq-config-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  test('a --config naming a folder says so in one line, without a require stack', async () => {
    mkdirSync(join(dir, 'conf'));
    await expect(loadConfig(join(dir, 'conf'))).rejects.toThrow(new ConfigError(`Config file ${join(dir, 'conf')} is a folder: name the file (taskq.config.json, taskq.config.js, taskq.config.cjs, taskq.config.mjs)`));
  });

  test.each([
    ['a plain object', 'throw { code: 42 };', 'it threw {"code":42}, not an Error'],
    ['a string', "throw 'nope';", 'it threw "nope", not an Error'],
    ['an Error', "throw new Error('bad config\\nsecond line');", 'bad config'],
  ])('a .cjs config that throws %s says what it threw', async (_what, body, reason) => {
    const file = join(dir, 'taskq.config.cjs');
    writeFileSync(file, body);
    await expect(loadConfig(file)).rejects.toThrow(new ConfigError(`Config file ${file} could not be read: ${reason}`));
  });

});
