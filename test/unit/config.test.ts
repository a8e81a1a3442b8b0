import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import {
  AbstractTask,
  ConfigError,
  InMemoryQueueBroker,
  QueueDispatcher,
  RdsQueueBroker,
  RdsTaskLogBroker,
  StrictPriorityStrategy,
  TaskStatus,
  createDispatcher,
  defineCallback,
  findConfigFile,
  loadConfig,
  parseConfig,
  silentLogger,
  type TaskqConfig,
} from '../../src';

const SRC_INDEX = resolve(__dirname, '../../src/index.ts');

/** A config that passes, as the CLI's JSON file would hold it. */
const validConfig = () => ({
  queues: [
    { name: 'priority', weight: 90, broker: { type: 'memory', sync: false, receive: 10 } },
    { name: 'standard', weight: 30, broker: { type: 'rds', connection: 'sqlite:./taskq.db', receive: 5 } },
  ],
  defaultQueue: 'standard',
  associations: { SendEmail: 'priority' },
  taskLog: { type: 'rds', connection: 'sqlite:./taskq.db' },
  tasks: ['./dist/tasks.js'],
  strategy: 'weighted',
});

/** The message of the ConfigError that `fn` throws (fails the test if it throws anything else). */
function configErrorOf(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as Error).message;
  }
  throw new Error('expected a ConfigError, nothing was thrown');
}

async function asyncConfigErrorOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as Error).message;
  }
  throw new Error('expected a ConfigError, nothing was thrown');
}

/** A deep copy of the valid config with `edit` applied. */
function withChange(edit: (config: Record<string, unknown> & ReturnType<typeof validConfig>) => void): unknown {
  const config = structuredClone(validConfig()) as Record<string, unknown> & ReturnType<typeof validConfig>;
  edit(config);
  return config;
}

// ---- parseConfig ------------------------------------------------------------------------------

describe('parseConfig', () => {
  test('a valid config passes unchanged, with its source', () => {
    const config = parseConfig(validConfig(), 'taskq.config.json');
    expect(config).toEqual({ ...validConfig(), source: 'taskq.config.json' });
  });

  test('the smallest config: one queue', () => {
    expect(parseConfig({ queues: [{ name: 'q', broker: { type: 'memory' } }] }).queues).toHaveLength(1);
  });

  test('task classes and callback definitions are accepted in tasks (for JS configs)', () => {
    class Hello extends AbstractTask<Record<string, never>> {
      run() {
        return null;
      }
    }
    const config = parseConfig({ queues: [{ name: 'q', broker: { type: 'memory' } }], tasks: [Hello, defineCallback('cb', () => null), './more.js'] });
    expect(config.tasks).toHaveLength(3);
  });

  test.each<[string, (c: Record<string, unknown> & ReturnType<typeof validConfig>) => void, string]>([
    ['queues missing', (c) => delete (c as Record<string, unknown>).queues, 'queues'],
    ['queues empty', (c) => (c.queues = []), 'queues'],
    ['queues not an array', (c) => ((c as Record<string, unknown>).queues = { name: 'q' }), 'queues'],
    ['a queue without a name', (c) => delete (c.queues[1] as Record<string, unknown>).name, 'queues[1].name'],
    ['an empty queue name', (c) => (c.queues[0].name = ''), 'queues[0].name'],
    ['a negative weight', (c) => (c.queues[1].weight = -1), 'queues[1].weight'],
    ['a string weight', (c) => ((c.queues[0] as Record<string, unknown>).weight = '90'), 'queues[0].weight'],
    ['an unknown broker type', (c) => (c.queues[1].broker.type = 'redis'), 'queues[1].broker.type'],
    ['a broker without a type', (c) => delete (c.queues[1].broker as Record<string, unknown>).type, 'queues[1].broker.type'],
    ['a queue without a broker', (c) => delete (c.queues[0] as Record<string, unknown>).broker, 'queues[0].broker'],
    ['a zero receive', (c) => (c.queues[0].broker.receive = 0), 'queues[0].broker.receive'],
    ['a fractional receive', (c) => (c.queues[1].broker.receive = 2.5), 'queues[1].broker.receive'],
    ['an empty connection', (c) => ((c.queues[1].broker as Record<string, unknown>).connection = ''), 'queues[1].broker.connection'],
    ['an unknown broker key', (c) => ((c.queues[1].broker as Record<string, unknown>).conection = 'sqlite:x.db'), 'queues[1].broker.conection'],
    ['an option of another broker type', (c) => ((c.queues[0].broker as Record<string, unknown>).connection = 'sqlite:x.db'), 'queues[0].broker.connection'],
    ['an unknown queue key', (c) => ((c.queues[0] as Record<string, unknown>).wieght = 3), 'queues[0].wieght'],
    ['a defaultQueue that is no queue', (c) => (c.defaultQueue = 'bulk'), 'defaultQueue'],
    ['a defaultQueue that is not a string', (c) => ((c as Record<string, unknown>).defaultQueue = 1), 'defaultQueue'],
    ['an association to an unknown queue', (c) => (c.associations.SendEmail = 'mail'), 'associations.SendEmail'],
    ['an association that is not a string', (c) => ((c.associations as Record<string, unknown>).SendEmail = ['priority']), 'associations.SendEmail'],
    ['an unknown taskLog type', (c) => (c.taskLog.type = 'sqs'), 'taskLog.type'],
    ['an unknown taskLog key', (c) => ((c.taskLog as Record<string, unknown>).receive = 5), 'taskLog.receive'],
    ['a bad maxEntries', (c) => ((c as Record<string, unknown>).taskLog = { type: 'memory', maxEntries: 0 }), 'taskLog.maxEntries'],
    ['a task entry that is a number', (c) => ((c.tasks as unknown[])[0] = 42), 'tasks[0]'],
    ['an empty task module path', (c) => (c.tasks = ['ok.js', '']), 'tasks[1]'],
    ['an unknown strategy', (c) => (c.strategy = 'random'), 'strategy'],
    ['an unknown stateFile type', (c) => ((c as Record<string, unknown>).stateFile = 7), 'stateFile'],
    ['a mistyped top-level key (quues)', (c) => ((c as Record<string, unknown>).quues = []), 'quues'],
  ])('%s: one ConfigError naming %s', (_what, edit, field) => {
    const message = configErrorOf(() => parseConfig(withChange(edit), 'taskq.config.json'));
    expect(message.startsWith('taskq.config.json: ')).toBe(true);
    // The field is named as a path: at the start of the message, or as the unknown key.
    const named = message.startsWith(`taskq.config.json: ${field}: `) || message.includes(`(${field})`);
    if (!named) throw new Error(`"${message}" does not name ${field}`);
    // One line, no stack, no dump of every issue.
    expect(message).not.toContain('\n');
  });

  test('queues spelled "quues" (and so missing): the error names the unknown key', () => {
    const config = validConfig() as Record<string, unknown>;
    config.quues = config.queues;
    delete config.queues;
    const message = configErrorOf(() => parseConfig(config, 'taskq.config.json'));
    expect(message).toContain('quues');
  });

  test('two queues with one name: the second is named', () => {
    const message = configErrorOf(() => parseConfig(withChange((c) => (c.queues[1].name = 'priority')), 'cfg'));
    expect(message).toBe('cfg: queues[1].name: queue "priority" is defined twice');
  });

  test('the defaultQueue and association messages list the queues there are', () => {
    expect(configErrorOf(() => parseConfig(withChange((c) => (c.defaultQueue = 'bulk')), 'cfg'))).toBe('cfg: defaultQueue: "bulk" is not one of the queues (priority, standard)');
    expect(configErrorOf(() => parseConfig(withChange((c) => (c.associations.SendEmail = 'mail')), 'cfg'))).toBe(
      'cfg: associations.SendEmail: unknown queue "mail" (queues: priority, standard)',
    );
  });

  test.each<[string, unknown]>([
    ['null', null],
    ['an array', []],
    ['a string', 'queues'],
    ['undefined', undefined],
  ])('a config that is %s is one ConfigError', (_what, value) => {
    expect(configErrorOf(() => parseConfig(value))).toMatch(/^config: /);
  });
});

// ---- loadConfig and findConfigFile ---------------------------------------------------------------

describe('loadConfig', () => {
  let dir: string;
  const savedEnv = process.env.TASKQ_CONFIG;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'taskq-config-'));
    delete process.env.TASKQ_CONFIG;
  });

  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
    if (savedEnv === undefined) delete process.env.TASKQ_CONFIG;
    else process.env.TASKQ_CONFIG = savedEnv;
  });

  const write = (name: string, content: unknown) => writeFile(dir, name, content);

  test('reads taskq.config.json from the folder, with baseDir and source', async () => {
    const file = write('taskq.config.json', validConfig());
    const config = await loadConfig(undefined, dir);
    expect(config).toMatchObject({ ...validConfig(), baseDir: dir, source: file });
  });

  test('an explicit path wins over TASKQ_CONFIG and the folder; a relative one is relative to cwd', async () => {
    write('taskq.config.json', { queues: [{ name: 'from-folder', broker: { type: 'memory' } }] });
    write('env/taskq.json', { queues: [{ name: 'from-env', broker: { type: 'memory' } }] });
    write('explicit/my.json', { queues: [{ name: 'from-path', broker: { type: 'memory' } }] });
    process.env.TASKQ_CONFIG = join(dir, 'env/taskq.json');
    expect((await loadConfig('explicit/my.json', dir)).queues[0].name).toBe('from-path');
    expect((await loadConfig(undefined, dir)).queues[0].name).toBe('from-env');
    delete process.env.TASKQ_CONFIG;
    expect((await loadConfig(undefined, dir)).queues[0].name).toBe('from-folder');
    expect((await loadConfig('explicit/my.json', dir)).baseDir).toBe(join(dir, 'explicit'));
  });

  test('reads a CommonJS config (taskq.config.js)', async () => {
    write('taskq.config.js', `module.exports = ${JSON.stringify({ queues: [{ name: 'js', weight: 4, broker: { type: 'memory' } }] })};`);
    expect(findConfigFile(undefined, dir)).toBe(join(dir, 'taskq.config.js'));
    expect((await loadConfig(undefined, dir)).queues).toEqual([{ name: 'js', weight: 4, broker: { type: 'memory' } }]);
  });

  test('no config file: a ConfigError telling how to pass one', async () => {
    const message = await asyncConfigErrorOf(loadConfig(undefined, dir));
    expect(message).toBe(`No config file: pass --config PATH, set TASKQ_CONFIG, or create taskq.config.json in ${dir}`);
  });

  test('a --config path that does not exist is a ConfigError naming it', async () => {
    expect(await asyncConfigErrorOf(loadConfig('missing.json', dir))).toBe(`Config file ${join(dir, 'missing.json')} does not exist`);
    process.env.TASKQ_CONFIG = join(dir, 'also-missing.json');
    expect(await asyncConfigErrorOf(loadConfig(undefined, dir))).toContain('also-missing.json does not exist');
  });

  test('a config file that is not JSON is a ConfigError naming the file', async () => {
    const file = write('taskq.config.json', '{ "queues": [ ');
    expect(await asyncConfigErrorOf(loadConfig(undefined, dir))).toMatch(new RegExp(`^Config file ${file} could not be read: `));
  });

  test('a bad field in the file is named, prefixed with the file', async () => {
    const file = write('taskq.config.json', withChange((c) => (c.queues[1].broker.type = 'redis')));
    expect(await asyncConfigErrorOf(loadConfig(undefined, dir))).toMatch(new RegExp(`^${file}: queues\\[1\\]\\.broker\\.type: `));
  });

  test("the state file switches a queue's broker", async () => {
    write('taskq.config.json', validConfig());
    write('.taskq/state.json', { queues: { standard: { type: 'memory', sync: true } } });
    const config = await loadConfig(undefined, dir);
    expect(config.queues.map((q) => [q.name, q.broker])).toEqual([
      ['priority', { type: 'memory', sync: false, receive: 10 }],
      ['standard', { type: 'memory', sync: true }],
    ]);
  });

  test('a custom stateFile is read relative to the config file', async () => {
    write('conf/taskq.config.json', { ...validConfig(), stateFile: 'state/switched.json' });
    write('conf/state/switched.json', { queues: { priority: { type: 'rds', connection: 'sqlite:./p.db' } } });
    const config = await loadConfig('conf/taskq.config.json', dir);
    expect(config.queues[0].broker).toEqual({ type: 'rds', connection: 'sqlite:./p.db' });
    expect(config.queues[1].broker.type).toBe('rds');
  });

  test('a state file that is not JSON, or holds a bad broker, is a ConfigError', async () => {
    write('taskq.config.json', validConfig());
    const state = write('.taskq/state.json', 'nope');
    expect(await asyncConfigErrorOf(loadConfig(undefined, dir))).toMatch(new RegExp(`^State file ${state} is not valid JSON`));
    write('.taskq/state.json', { queues: { standard: { type: 'kafka' } } });
    expect(await asyncConfigErrorOf(loadConfig(undefined, dir))).toMatch(new RegExp(`^State file ${state}: queues\\.standard\\.type: `));
  });
});

// ---- createDispatcher ----------------------------------------------------------------------------

describe('createDispatcher', () => {
  let dir: string;
  const dispatchers: QueueDispatcher[] = [];

  const build = async (config: TaskqConfig) => {
    const dispatcher = await createDispatcher(config, { logger: silentLogger });
    dispatchers.push(dispatcher);
    return dispatcher;
  };

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'taskq-create-'));
  });

  afterEach(async () => {
    await Promise.all(dispatchers.splice(0).map((d) => d.close()));
    rmSync(dir, { recursive: true, force: true });
  });

  test('builds each queue on the configured broker, with its weight (default 1)', async () => {
    const dispatcher = await build({
      queues: [
        { name: 'fast', weight: 90, broker: { type: 'memory', sync: false, receive: 7 } },
        { name: 'sync', broker: { type: 'memory' } },
        { name: 'db', weight: 0, broker: { type: 'rds', connection: 'sqlite::memory:', receive: 3, table: 'jobs' } },
      ],
      taskLog: { type: 'memory' },
      baseDir: dir,
    });
    const [fast, sync, db] = dispatcher.getQueues();
    expect([fast.name, fast.broker.type, fast.weight, fast.broker.isSync, fast.broker.receiveBatchSize]).toEqual(['fast', 'memory', 90, false, 7]);
    expect(fast.broker).toBeInstanceOf(InMemoryQueueBroker);
    expect([sync.name, sync.broker.type, sync.weight, sync.broker.isSync]).toEqual(['sync', 'memory', 1, true]);
    expect([db.name, db.broker.type, db.weight, db.broker.receiveBatchSize]).toEqual(['db', 'rds', 0, 3]);
    expect(db.broker).toBeInstanceOf(RdsQueueBroker);
    expect(db.broker.describe()).toEqual({ type: 'rds', connection: 'sqlite::memory:', receive: 3, table: 'jobs' });
    expect(dispatcher.taskLog.broker.type).toBe('memory');
    expect(dispatcher.isSync()).toBe(false);
    expect(dispatcher.getDefaultQueue().name).toBe('fast');
  });

  test('an rds queue broker takes notify (false is kept in describe(), for initialize-queue to record); a non-boolean is refused', async () => {
    const dispatcher = await build({ queues: [{ name: 'db', broker: { type: 'rds', connection: 'sqlite::memory:', notify: false } }], taskLog: { type: 'memory' }, baseDir: dir });
    expect(dispatcher.getQueue('db').broker.describe()).toMatchObject({ type: 'rds', notify: false });
    expect(configErrorOf(() => parseConfig({ queues: [{ name: 'db', broker: { type: 'rds', notify: 'no' } }] }))).toMatch(/notify/);
  });

  test('defaultQueue, associations and strategy are passed on', async () => {
    const dispatcher = await build({
      queues: [
        { name: 'a', broker: { type: 'memory' } },
        { name: 'b', broker: { type: 'memory' } },
      ],
      defaultQueue: 'b',
      associations: { 'CallbackTask': 'a' },
      strategy: 'priority',
      taskLog: { type: 'memory' },
      tasks: [defineCallback('ping', () => 'pong')],
    });
    expect(dispatcher.getDefaultQueue().name).toBe('b');
    expect(dispatcher.strategy).toBeInstanceOf(StrictPriorityStrategy);
    expect(dispatcher.registry.names()).toEqual(['CallbackTask:ping']);
  });

  test('relative sqlite paths are resolved against the config file folder, not the cwd', async () => {
    writeFile(dir, 'taskq.config.json', {
      queues: [{ name: 'q', broker: { type: 'rds', connection: 'sqlite:./data/queue.db' } }],
      taskLog: { type: 'rds', connection: 'sqlite:data/log.db' },
    });
    const dispatcher = await build(await loadConfig(undefined, dir));
    const broker = dispatcher.getQueue('q').broker as RdsQueueBroker;
    expect(broker.connectionString).toBe(`sqlite:${join(dir, 'data/queue.db')}`);
    expect((dispatcher.taskLog.broker as RdsTaskLogBroker).connectionString).toBe(`sqlite:${join(dir, 'data/log.db')}`);
    await dispatcher.initialize();
    expect(existsSync(join(dir, 'data/queue.db'))).toBe(true);
    expect(existsSync(join(dir, 'data/log.db'))).toBe(true);
  });

  test('without a taskLog, the log is SQLite taskq.db beside the config file; the default connection too', async () => {
    writeFile(dir, 'taskq.config.json', { queues: [{ name: 'q', broker: { type: 'rds' } }] });
    const dispatcher = await build(await loadConfig(undefined, dir));
    expect(dispatcher.taskLog.broker.type).toBe('rds');
    expect((dispatcher.taskLog.broker as RdsTaskLogBroker).connectionString).toBe(`sqlite:${join(dir, 'taskq.db')}`);
    expect((dispatcher.getQueue('q').broker as RdsQueueBroker).connectionString).toBe(`sqlite:${join(dir, 'taskq.db')}`);
  });

  test('absolute sqlite paths and sqlite::memory: are kept as they are', async () => {
    const absolute = join(dir, 'abs', 'q.db');
    const dispatcher = await build({
      queues: [
        { name: 'abs', broker: { type: 'rds', connection: `sqlite:${absolute}` } },
        { name: 'mem', broker: { type: 'rds', connection: 'sqlite::memory:' } },
      ],
      taskLog: { type: 'memory' },
      baseDir: join(dir, 'elsewhere'),
    });
    expect((dispatcher.getQueue('abs').broker as RdsQueueBroker).connectionString).toBe(`sqlite:${absolute}`);
    expect((dispatcher.getQueue('mem').broker as RdsQueueBroker).connectionString).toBe('sqlite::memory:');
  });

  test('a connection password never shows in describe()', async () => {
    const dispatcher = await build({ queues: [{ name: 'pg', broker: { type: 'rds', connection: 'postgres://app:s3cret@db.example:5432/jobs' } }], taskLog: { type: 'memory' } });
    const described = JSON.stringify(dispatcher.getQueue('pg').broker.describe());
    expect(described).not.toContain('s3cret');
    expect(described).toContain('postgres://app:***@db.example:5432/jobs');
  });

  test.each<[string, Record<string, unknown>, RegExp]>([
    ['an unsupported connection', { type: 'rds', connection: 'redis://localhost' }, /^config: queues\[0\]\.broker: RDS connection "redis:\/\/localhost" is not one of/],
    ['an invalid table name', { type: 'rds', connection: 'sqlite::memory:', table: 'jobs; DROP' }, /^config: queues\[0\]\.broker: table "jobs; DROP" is not a valid table name/],
    ['a sqlite connection without a path', { type: 'rds', connection: 'sqlite:' }, /^config: queues\[0\]\.broker: RDS connection "sqlite:": sqlite needs a file path/],
  ])("%s: a ConfigError naming the queue's broker", async (_what, broker, message) => {
    const config = { queues: [{ name: 'q', broker }], taskLog: { type: 'memory' } } as TaskqConfig;
    expect(await asyncConfigErrorOf(createDispatcher(config, { logger: silentLogger }))).toMatch(message);
  });

  test('an unchecked config object is checked first', async () => {
    const config = { queues: [{ name: 'q', broker: { type: 'memory' } }], quues: [] } as unknown as TaskqConfig;
    expect(await asyncConfigErrorOf(createDispatcher(config))).toContain('quues');
  });

  test('an invalid queue name is a ConfigError naming it', async () => {
    const config = { queues: [{ name: '../etc', broker: { type: 'memory' } }], taskLog: { type: 'memory' } } as TaskqConfig;
    expect(await asyncConfigErrorOf(createDispatcher(config))).toContain('"../etc"');
  });

  test('task modules are loaded relative to the config file and their tasks registered', async () => {
    writeFile(
      dir,
      'lib/tasks.js',
      `const { AbstractTask, defineCallback } = require(${JSON.stringify(SRC_INDEX)});
       class Hello extends AbstractTask {
         static taskName = 'Hello';
         run() { return 'hello ' + this.getParameter('name'); }
       }
       module.exports = { Hello, shout: defineCallback('shout', (args) => String(args).toUpperCase()), notATask: 42 };`,
    );
    writeFile(dir, 'taskq.config.json', { queues: [{ name: 'q', broker: { type: 'memory' } }], taskLog: { type: 'memory' }, tasks: ['./lib/tasks.js'] });
    const dispatcher = await build(await loadConfig(undefined, dir));
    expect(dispatcher.registry.names()).toEqual(['CallbackTask:shout', 'Hello']);
    const Hello = dispatcher.registry.get('Hello') as unknown as new (params: { name: string }) => AbstractTask<{ name: string }>;
    const task = await dispatcher.enqueue(new Hello({ name: 'config' }));
    expect(await dispatcher.taskLog.get(task.id)).toMatchObject({ status: TaskStatus.Completed, report: { data: 'hello config' } });
  });

  test('a task module that cannot be loaded, or exports no task, is a ConfigError naming it', async () => {
    writeFile(dir, 'empty.js', 'module.exports = { answer: 42 };');
    const base = { queues: [{ name: 'q', broker: { type: 'memory' as const } }], taskLog: { type: 'memory' as const }, baseDir: dir, source: 'cfg' };
    expect(await asyncConfigErrorOf(createDispatcher({ ...base, tasks: ['./missing.js'] }))).toMatch(/^cfg: tasks: module "\.\/missing\.js" could not be loaded: /);
    expect(await asyncConfigErrorOf(createDispatcher({ ...base, tasks: ['./empty.js'] }))).toBe('cfg: tasks: module "./empty.js" exports no AbstractTask subclass or defineCallback()');
  });
});

/** Writes `content` (text, or JSON of a value) to dir/name, creating folders. */
function writeFile(dir: string, name: string, content: unknown): string {
  const file = join(dir, name);
  mkdirSync(join(file, '..'), { recursive: true });
  writeFileSync(file, typeof content === 'string' ? content : JSON.stringify(content, null, 2));
  return file;
}
