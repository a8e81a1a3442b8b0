import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { RdsQueueBroker, type TaskLogEntry } from '../../src';
import { CliProject, type CliResult } from '../helpers/cliProject';
import { sqsBroker, sqsEndpoint, sqsEnv, uniquePrefix } from '../helpers/sqs';

jest.setTimeout(90_000);

/** A project whose two queues are on SQS (the test server, under `prefix`); the task log on SQLite. */
function sqsConfig(prefix: string, extra: object = {}): object {
  const broker = { type: 'sqs', endpoint: sqsEndpoint(), region: 'us-east-1', queuePrefix: prefix, receive: 5, waitTimeSeconds: 1, ...extra };
  return {
    queues: [
      { name: 'standard', weight: 30, broker },
      { name: 'priority', weight: 90, broker },
    ],
    defaultQueue: 'standard',
    taskLog: { type: 'rds', connection: 'sqlite:./taskq.db' },
    tasks: ['./tasks.js'],
  };
}

describe('taskq initialize-queue --broker=sqs', () => {
  const projects: CliProject[] = [];
  const brokers: { close(): Promise<void> }[] = [];
  afterEach(async () => {
    for (const broker of brokers.splice(0)) await broker.close();
    for (const project of projects.splice(0)) project.remove();
  });

  /** Every CLI process gets the test server's dummy credentials: there are none in the environment. */
  const run = (project: CliProject, args: string[]): Promise<CliResult> => project.run([...args, '--log-level=silent'], sqsEnv());
  const enqueue = async (project: CliProject, name: string, params: unknown, extra: string[] = []): Promise<string> => {
    const result = await run(project, ['enqueue', name, '--params', JSON.stringify(params), ...extra]);
    if (result.code !== 0) throw new Error(`taskq enqueue exited ${result.code}: ${result.stderr}`);
    return result.stdout.trim();
  };
  const entry = async (project: CliProject, id: string): Promise<TaskLogEntry> => {
    const result = await run(project, ['task-log', '--get', id, '--json']);
    if (result.code !== 0) throw new Error(`taskq task-log --get exited ${result.code}: ${result.stderr}`);
    return JSON.parse(result.stdout) as TaskLogEntry;
  };
  /**
   * stderr without the AWS SDK's warning that its releases after January 2027 need Node 22 (it
   * prints it once per process on Node 20, as soon as the first SQS client is made).
   */
  const errorLines = (stderr: string) => stderr.replace(/\(node:\d+\) Warning: NodeVersionSupportWarning[\s\S]*?to show where the warning was created\)\n/, '').trim().split('\n');
  const state = (project: CliProject) => readFileSync(join(project.dir, '.taskq', 'state.json'), 'utf8');
  const sqliteCount = async (project: CliProject, queue: string) => {
    const broker = new RdsQueueBroker({ connection: `sqlite:${join(project.dir, 'taskq.db')}` });
    brokers.push(broker);
    return broker.count(queue);
  };
  const sqs = (prefix: string, extra: object = {}) => {
    const broker = sqsBroker({ queuePrefix: prefix, ...extra });
    brokers.push(broker);
    return broker;
  };
  const sqliteProject = async () => {
    const project = await CliProject.initialized();
    projects.push(project);
    return project;
  };
  const sqsProject = async (prefix: string, extra: object = {}) => {
    const project = new CliProject(sqsConfig(prefix, extra));
    projects.push(project);
    const init = await run(project, ['initialize-queue']);
    if (init.code !== 0) throw new Error(`taskq initialize-queue exited ${init.code}: ${init.stderr}`);
    return project;
  };

  test('moves pending and delayed tasks from SQLite to SQS; workers run them from SQS', async () => {
    const project = await sqliteProject();
    const pending: string[] = [];
    for (let i = 0; i < 5; i++) pending.push(await enqueue(project, 'Hello', { name: `n${i}` }));
    const delayed = await enqueue(project, 'Hello', { name: 'later' }, ['--queue', 'priority', '--delay', '3000']);

    const prefix = uniquePrefix();
    const result = await run(project, ['initialize-queue', '--broker=sqs', '--endpoint', sqsEndpoint(), '--region', 'us-east-1', '--queue-prefix', prefix]);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/queue standard: rds -> sqs, 5 pending task\(s\) moved/);
    expect(result.stdout).toMatch(/queue priority: rds -> sqs, 1 pending task\(s\) moved/);
    // The switch is persisted, with no credentials (the CLI had some in its environment).
    const saved = { type: 'sqs', endpoint: sqsEndpoint(), region: 'us-east-1', queuePrefix: prefix };
    expect(JSON.parse(state(project))).toEqual({ queues: { standard: saved, priority: saved } });
    expect(state(project)).not.toMatch(/secret|accessKey|credential/i);
    // Nothing is left on SQLite; everything waits on SQS, the delayed task too.
    expect(await sqliteCount(project, 'standard')).toBe(0);
    expect(await sqliteCount(project, 'priority')).toBe(0);
    expect(await sqs(prefix).count('standard')).toBe(5);
    expect(await sqs(prefix).count('priority')).toBe(1);

    const worker = await run(project, ['run-worker', '--queue=standard', '--limit=5']);
    expect(worker.code).toBe(0);
    for (const id of pending) expect((await entry(project, id)).status).toBe('completed');

    const later = await run(project, ['run-worker', '--queue=priority', '--limit=1']);
    expect(later.code).toBe(0);
    const done = await entry(project, delayed);
    expect(done.status).toBe('completed');
    // Still delayed on SQS: not started before its run-at time.
    expect(new Date(done.startedAt as unknown as string).getTime() - new Date(done.createdAt as unknown as string).getTime()).toBeGreaterThanOrEqual(2_900);
    expect(await sqs(prefix).count('standard')).toBe(0);
  });

  test('moves pending tasks from SQS back to SQLite; workers run them from SQLite', async () => {
    const prefix = uniquePrefix();
    const project = await sqsProject(prefix);
    const ids = [await enqueue(project, 'Hello', { name: 'a' }), await enqueue(project, 'Hello', { name: 'b' }), await enqueue(project, 'Hello', { name: 'c' })];
    expect(await sqs(prefix).count('standard')).toBe(3);

    const result = await run(project, ['initialize-queue', '--broker=rds', '--connection=sqlite:./taskq.db']);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/queue standard: sqs -> rds, 3 pending task\(s\) moved/);
    expect(JSON.parse(state(project))).toEqual({ queues: { standard: { type: 'rds', connection: 'sqlite:./taskq.db' }, priority: { type: 'rds', connection: 'sqlite:./taskq.db' } } });
    expect(await sqs(prefix).count('standard')).toBe(0);
    expect(await sqliteCount(project, 'standard')).toBe(3);

    // No AWS credentials: this worker could not read SQS, it reads SQLite.
    const worker = await project.run(['run-worker', '--queue=standard', '--limit=3', '--log-level=silent']);
    expect(worker.code).toBe(0);
    for (const id of ids) expect((await entry(project, id)).status).toBe('completed');
  });

  test('SQS FIFO: a task moved away and back within five minutes is not dropped as a duplicate', async () => {
    const [home, away] = [uniquePrefix(), uniquePrefix()];
    const project = await sqsProject(home, { fifo: true });
    const ids = [await enqueue(project, 'Hello', { name: 'a' }), await enqueue(project, 'Hello', { name: 'b' })];

    const there = await run(project, ['initialize-queue', '--broker=sqs', '--queue-prefix', away, '--queue=standard']);
    expect(there.code).toBe(0);
    expect(there.stdout).toMatch(/queue standard: sqs -> sqs, 2 pending task\(s\) moved/);
    // The other settings of the queue (endpoint, region, fifo, …) stay.
    expect(JSON.parse(state(project)).queues.standard).toEqual({ type: 'sqs', endpoint: sqsEndpoint(), region: 'us-east-1', queuePrefix: away, receive: 5, waitTimeSeconds: 1, fifo: true });
    expect(await sqs(away, { fifo: true }).count('standard')).toBe(2);

    // Back to the queue that took these task ids a moment ago: SQS keeps them, they are new sends.
    const back = await run(project, ['initialize-queue', '--broker=sqs', '--queue-prefix', home, '--queue=standard']);
    expect(back.code).toBe(0);
    expect(back.stdout).toMatch(/queue standard: sqs -> sqs, 2 pending task\(s\) moved/);
    expect(await sqs(home, { fifo: true }).count('standard')).toBe(2);

    const worker = await run(project, ['run-worker', '--queue=standard', '--limit=2']);
    expect(worker.code).toBe(0);
    for (const id of ids) expect((await entry(project, id)).status).toBe('completed');
  });

  test.each([
    [['--region', 'us-east-1'], /--region goes with --broker=sqs/],
    [['--broker=rds', '--endpoint', 'http://127.0.0.1:1'], /--endpoint goes with --broker=sqs/],
    [['--queue-prefix', 'x-'], /--queue-prefix goes with --broker=sqs/],
    [['--broker=sqs', '--endpoint', 'not a url'], /--endpoint must be an http\(s\) URL/],
    [['--broker=sqs', '--endpoint', 'ftp://127.0.0.1'], /--endpoint must be an http\(s\) URL/],
    [['--broker=sqs', '--connection=sqlite:./x.db'], /--connection goes with --broker=rds/],
    [['--broker=sqs', '--receive=11'], /--receive with --broker=sqs must be from 1 to 10/],
  ])('taskq initialize-queue %j → exit 2, one line', async (args, pattern) => {
    const project = await sqliteProject();
    const result = await run(project, ['initialize-queue', ...args]);
    expect(result.code).toBe(2);
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
    expect(result.stderr).toMatch(pattern);
    expect(existsSync(join(project.dir, '.taskq', 'state.json'))).toBe(false);
  });

  test('is refused while a task is in flight on the old SQS queue, changing nothing; runs once it is back', async () => {
    const prefix = uniquePrefix();
    const project = await sqsProject(prefix);
    const id = await enqueue(project, 'Hello', { name: 'held' });
    await enqueue(project, 'Hello', { name: 'waiting' });
    // A worker holds one of the two.
    const holder = sqs(prefix);
    const [message] = await holder.receive('standard', 1, 60_000);
    expect(message).toBeDefined();

    const switchArgs = ['initialize-queue', '--broker=rds', '--connection=sqlite:./other.db', '--queue=standard'];
    const refused = await run(project, switchArgs);
    expect(refused.code).toBe(1);
    expect(errorLines(refused.stderr)).toHaveLength(1);
    expect(refused.stderr).toMatch(/queue standard: 1 message\(s\) in flight or delayed on SQS .*switching now would strand them there.*add --force to wait for them/);
    expect(refused.stdout).toBe('');
    expect(existsSync(join(project.dir, '.taskq', 'state.json'))).toBe(false);
    expect(existsSync(join(project.dir, 'other.db'))).toBe(false);
    expect(await sqs(prefix).count('standard')).toBe(2);

    // The worker gives it back: the switch moves both.
    await holder.release('standard', message, 0);
    const switched = await run(project, switchArgs);
    expect(switched.code).toBe(0);
    expect(switched.stdout).toMatch(/queue standard: sqs -> rds, 2 pending task\(s\) moved/);
    const worker = await run(project, ['run-worker', '--queue=standard', '--limit=2']);
    expect(worker.code).toBe(0);
    expect((await entry(project, id)).status).toBe('completed');
  });

  test('a task delayed on SQS is waited for with --force, and moves once visible', async () => {
    const prefix = uniquePrefix();
    const project = await sqsProject(prefix);
    // Long enough to still be delayed when the first switch gives up (it tries three rounds of a second).
    const id = await enqueue(project, 'Hello', { name: 'later' }, ['--delay', '15000']);

    const refused = await run(project, ['initialize-queue', '--broker=rds', '--queue=standard']);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/queue standard: 1 message\(s\) in flight or delayed on SQS/);
    expect(refused.stderr).toMatch(/tasks in flight or delayed on SQS cannot move before SQS shows them again: nothing switched/);
    expect(existsSync(join(project.dir, '.taskq', 'state.json'))).toBe(false);

    const forced = await run(project, ['initialize-queue', '--broker=rds', '--queue=standard', '--force']);
    expect(forced.code).toBe(0);
    expect(forced.stdout).toMatch(/queue standard: waiting for 1 message\(s\) in flight or delayed on SQS/);
    expect(forced.stdout).toMatch(/queue standard: sqs -> rds, 1 pending task\(s\) moved/);
    const worker = await project.run(['run-worker', '--queue=standard', '--limit=1', '--log-level=silent']);
    expect(worker.code).toBe(0);
    expect((await entry(project, id)).status).toBe('completed');
  });
});
