/**
 * `taskq run-worker` processes on SQS (the fauxqs server jest starts), the task log on SQLite:
 * a worker killed mid-task, a worker stopped with SIGTERM (its long poll cut short), --limit.
 */
import { readFileSync } from 'node:fs';
import type { TaskLogEntry, TaskLogStats, WorkerStats } from '../../src';
import { CliProject, type CliResult, collect } from '../helpers/cliProject';
import { sqsBroker, sqsEndpoint, sqsEnv, uniquePrefix } from '../helpers/sqs';
import { until } from '../helpers/wait';

jest.setTimeout(90_000);

describe('taskq run-worker on SQS (real CLI)', () => {
  let project: CliProject;
  let prefix: string;
  const closing: { close(): Promise<void> }[] = [];

  /** One queue `standard` on SQS (a visibility timeout of 2 s), the task log on SQLite. */
  async function sqsProject(waitTimeSeconds = 1): Promise<void> {
    prefix = uniquePrefix();
    project = new CliProject({
      queues: [{ name: 'standard', weight: 30, broker: { type: 'sqs', endpoint: sqsEndpoint(), region: 'us-east-1', queuePrefix: prefix, waitTimeSeconds, visibilityTimeout: 2 } }],
      defaultQueue: 'standard',
      taskLog: { type: 'rds', connection: 'sqlite:./taskq.db' },
      tasks: ['./tasks.js'],
    });
    const init = await run(['initialize-queue']);
    if (init.code !== 0) throw new Error(`taskq initialize-queue exited ${init.code}: ${init.stderr}`);
  }

  afterEach(async () => {
    for (const c of closing.splice(0)) await c.close();
    project?.remove();
  });

  /** Every CLI process gets the test server's dummy credentials: there are none in the environment. */
  const run = (args: string[]): Promise<CliResult> => project.run(args, sqsEnv());
  const spawnWorker = (args: string[]) => project.spawn(['run-worker', ...args], sqsEnv());
  const enqueue = async (name: string, params: unknown): Promise<string> => {
    const result = await run(['enqueue', name, '--params', JSON.stringify(params), '--log-level=silent']);
    if (result.code !== 0) throw new Error(`taskq enqueue ${name} exited ${result.code}: ${result.stderr}`);
    return result.stdout.trim();
  };
  const json = async <T>(args: string[]): Promise<T> => {
    const result = await run([...args, '--json', '--log-level=silent']);
    if (result.code !== 0) throw new Error(`taskq ${args.join(' ')} exited ${result.code}: ${result.stderr}`);
    return JSON.parse(result.stdout) as T;
  };
  const entry = (id: string) => json<TaskLogEntry>(['task-log', '--get', id]);
  const runsOf = (id: string) => readFileSync(project.runsFile, 'utf8').split('\n').filter((l) => l === id).length;
  /** What the SQS queue holds (waiting, in flight, delayed). */
  const sqsCount = async () => {
    const broker = sqsBroker({ queuePrefix: prefix });
    closing.push(broker);
    return broker.count('standard');
  };

  test('a worker killed with SIGKILL mid-task: SQS delivers the message again after its visibility lapses; nothing lost, nothing run twice', async () => {
    await sqsProject();
    const slow = await enqueue('Slow', { ms: 1500 });
    const others: string[] = [];
    for (let i = 0; i < 5; i++) others.push(await enqueue('Hello', { name: `n${i}` }));
    const victim = spawnWorker(['--queue=standard', '--concurrency=1', '--lease-ms=2000', '--log-level=silent']);
    const victimDone = collect(victim);
    await until(async () => (await entry(slow)).status === 'running', 45_000, 'the slow task to start');
    victim.kill('SIGKILL');
    expect((await victimDone).code).toBeNull();
    expect((await entry(slow)).status).toBe('running');
    // The killed worker never deleted it: the message is still on SQS (in flight until its visibility lapses).
    expect(await sqsCount()).toBe(6);

    const rescuer = await run(['run-worker', '--queue=standard', '--limit=6', '--lease-ms=2000', '--json', '--log-level=silent']);
    expect(rescuer.code).toBe(0);
    expect(JSON.parse(rescuer.stdout) as WorkerStats).toEqual({ processed: 6, completed: 6, failed: 0, retried: 0 });
    expect(await entry(slow)).toMatchObject({ status: 'completed', attempts: 2, report: { data: { attempt: 2 } } });
    expect(runsOf(slow)).toBe(2);
    for (const id of others) {
      expect((await entry(id)).status).toBe('completed');
      expect(runsOf(id)).toBe(1);
    }
    expect(await json<TaskLogStats>(['task-log', '--stats'])).toMatchObject({ completed: 6, total: 6 });
    expect(await sqsCount()).toBe(0);
  });

  test('SIGTERM during a long task lets it finish, then exits 0 promptly without starting the next', async () => {
    await sqsProject(20);
    const id = await enqueue('Slow', { ms: 2000 });
    const next = await enqueue('Hello', { name: 'after' });
    const worker = spawnWorker(['--concurrency=1', '--lease-ms=2000', '--log-level=info']);
    const done = collect(worker);
    await until(async () => (await entry(id)).status === 'running', 20_000, 'the task to start');
    const killedAt = Date.now();
    worker.kill('SIGTERM');
    const result = await done;
    expect(result.code).toBe(0);
    // Well within a 20 s long poll plus a lease.
    expect(Date.now() - killedAt).toBeLessThan(15_000);
    expect(result.stderr).toMatch(/SIGTERM: finishing running tasks/);
    expect(await entry(id)).toMatchObject({ status: 'completed', attempts: 1 });
    expect((await entry(next)).status).toBe('enqueued');
    expect(await sqsCount()).toBe(1);
  });

  test('SIGTERM while idle cuts the 20 s long poll short: exits 0 within seconds', async () => {
    await sqsProject(20);
    const worker = spawnWorker(['--log-level=info']);
    const done = collect(worker);
    let stderr = '';
    worker.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    await until(() => stderr.includes('worker started'), 20_000, 'the worker to start');
    // Inside its first long poll by now.
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    const killedAt = Date.now();
    worker.kill('SIGTERM');
    const result = await done;
    expect(result.code).toBe(0);
    expect(Date.now() - killedAt).toBeLessThan(5_000);
  });

  test('--limit=3 exits 0 after exactly three tasks, leaving the rest waiting (none hidden)', async () => {
    await sqsProject();
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push(await enqueue('Hello', { name: `n${i}` }));
    const result = await run(['run-worker', '--limit=3', '--lease-ms=60000', '--json', '--log-level=silent']);
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout) as WorkerStats).toEqual({ processed: 3, completed: 3, failed: 0, retried: 0 });
    expect(readFileSync(project.runsFile, 'utf8').trim().split('\n')).toHaveLength(3);
    expect(await json<TaskLogStats>(['task-log', '--stats'])).toMatchObject({ completed: 3, enqueued: 2, total: 5 });
    // The two left are visible at once (a lease of a minute would otherwise hide them): another worker runs them.
    expect(await sqsCount()).toBe(2);
    const started = Date.now();
    const rest = await run(['run-worker', '--limit=2', '--json', '--log-level=silent']);
    expect(rest.code).toBe(0);
    expect(Date.now() - started).toBeLessThan(15_000);
    expect((JSON.parse(rest.stdout) as WorkerStats).processed).toBe(2);
    for (const id of ids) expect(runsOf(id)).toBe(1);
  });
});
