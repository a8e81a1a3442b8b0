import { rmSync } from 'node:fs';
import type { TaskLogEntry, TaskLogStats } from '../../src';
import { CliProject, collect } from '../helpers/cliProject';

jest.setTimeout(60_000);

/** Usage errors: one line on stderr that names the problem, exit code 2, no stack trace. */
function expectUsageError(result: { code: number | null; stderr: string }, pattern: RegExp): void {
  expect(result.code).toBe(2);
  expect(result.stderr.trim().split('\n')).toHaveLength(1);
  expect(result.stderr).toMatch(pattern);
  expect(result.stderr).not.toMatch(/\n\s+at /);
}

describe('taskq CLI usage and config errors', () => {
  let project: CliProject;
  beforeEach(() => (project = new CliProject()));
  afterEach(() => project.remove());

  test('--help on every command exits 0', async () => {
    for (const args of [['--help'], ['run-worker', '--help'], ['initialize-queue', '--help'], ['task-log', '--help'], ['enqueue', '--help']]) {
      const result = await project.run(args);
      expect(result.code).toBe(0);
      expect(result.stdout).toMatch(/Usage: taskq/);
    }
  });

  test.each([
    [['run-worker', '--limit=abc'], /--limit must be a whole number >= 1/],
    [['run-worker', '--concurrency=0'], /--concurrency must be a whole number >= 1/],
    [['run-worker', '--bogus'], /unknown option '--bogus'/],
    [['no-such-command'], /unknown command 'no-such-command'/],
    [['initialize-queue', '--broker=redis'], /--broker must be one of memory, rds, sqs/],
    [['initialize-queue', '--region=eu-west-1'], /--region goes with --broker=sqs/],
    [['initialize-queue', '--broker=memory', '--connection=sqlite:./x.db'], /--connection goes with --broker=rds/],
    [['initialize-queue', '--broker=sqs'], /the SQS broker is not available in this version/],
    [['task-log'], /exactly one of --stats, --list, --get, --archive, --cancel/],
    [['task-log', '--stats', '--list'], /exactly one of .* \(got --stats, --list\)/],
    [['task-log', '--list', '--status=sleeping'], /--status must be one of enqueued/],
    [['enqueue'], /missing required argument 'name'/],
    [['enqueue', 'Hello', '--params', '{nope'], /--params is not valid JSON/],
    [['enqueue', 'DropTables'], /Unknown task "DropTables"; registered: CallbackTask:shout, Fail, Hello, Slow/],
    [['run-worker', '--queue=nope'], /Unknown queue "nope" \(queues: standard, priority\)/],
  ])('taskq %j → exit 2', async (args, pattern) => {
    expectUsageError(await project.run(args), pattern);
  });

  test('a missing config file says how to give one', async () => {
    project.remove();
    const bare = new CliProject();
    rmSync(`${bare.dir}/taskq.config.json`);
    expectUsageError(await bare.run(['task-log', '--stats']), /No config file: pass --config PATH, set TASKQ_CONFIG, or create taskq.config.json/);
    expectUsageError(await bare.run(['--config', 'nowhere.json', 'task-log', '--stats']), /Config file .*nowhere.json does not exist/);
    bare.remove();
  });

  test.each([
    ['{ not json', /could not be read/],
    [JSON.stringify({ queues: [] }), /queues: Too small/],
    [JSON.stringify({ queues: [{ name: 'a', broker: { type: 'kafka' } }] }), /queues\[0\]\.broker\.type/],
    [JSON.stringify({ queues: [{ name: 'a', broker: { type: 'rds', receive: -1 } }] }), /queues\[0\]\.broker\.receive/],
    [JSON.stringify({ queues: [{ name: 'a', broker: { type: 'memory' } }], quues: 1 }), /Unrecognized key.*quues/],
    [JSON.stringify({ queues: [{ name: 'a', broker: { type: 'memory' } }], defaultQueue: 'b' }), /defaultQueue: "b" is not one of the queues/],
    [JSON.stringify({ queues: [{ name: 'a', broker: { type: 'memory' } }], associations: { X: 'zzz' } }), /associations\.X: unknown queue "zzz"/],
    [JSON.stringify({ queues: [{ name: 'a', broker: { type: 'memory' } }, { name: 'a', broker: { type: 'memory' } }] }), /queues\[1\]\.name: queue "a" is defined twice/],
    [JSON.stringify({ queues: [{ name: '../../etc', broker: { type: 'memory' } }] }), /Invalid queue name "\.\.\/\.\.\/etc"/],
    [JSON.stringify({ queues: [{ name: 'a', broker: { type: 'memory' } }], tasks: ['./missing.js'] }), /tasks: module "\.\/missing\.js" could not be loaded/],
    [JSON.stringify({ queues: [{ name: 'a', broker: { type: 'rds', connection: 'oracle://x' } }] }), /is not one of sqlite:PATH, postgres/],
  ])('bad config %s → one line naming the field, exit 2', async (config, pattern) => {
    project.writeConfig(config);
    expectUsageError(await project.run(['task-log', '--stats']), pattern);
  });
});

describe('taskq task-log, enqueue --wait, initialize-queue --broker', () => {
  let project: CliProject;
  beforeEach(async () => {
    project = await CliProject.initialized();
  });
  afterEach(() => project.remove());

  const enqueue = (name: string, params: unknown) => project.enqueue(name, params);

  test('--get, --list, --archive and --cancel with their force rules', async () => {
    const a = await enqueue('Hello', { name: 'a' });
    const b = await enqueue('Hello', { name: 'b' });
    const got = await project.json<TaskLogEntry>(['task-log', '--get', a]);
    expect(got).toMatchObject({ id: a, taskName: 'Hello', status: 'enqueued', parameters: { name: 'a' } });
    const list = await project.json<TaskLogEntry[]>(['task-log', '--list', '--limit=1']);
    expect(list.map((e) => e.id)).toEqual([b]);
    expect((await project.run(['task-log', '--get', 'no-such-id'])).code).toBe(1);

    const refused = await project.run(['task-log', '--archive', a]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/is enqueued: it cannot be archived before it ends \(use force\)/);
    expect(await project.json<TaskLogEntry>(['task-log', '--archive', a, '--force'])).toMatchObject({ status: 'archived' });
    expect(await project.json<TaskLogEntry>(['task-log', '--cancel', b])).toMatchObject({ status: 'cancelled' });
    const again = await project.run(['task-log', '--cancel', b]);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/it has already ended/);
    expect(await project.json<TaskLogStats>(['task-log', '--stats'])).toMatchObject({ archived: 1, cancelled: 1, total: 2 });
    // Archived tasks leave the default list.
    expect((await project.json<TaskLogEntry[]>(['task-log', '--list'])).map((e) => e.id)).toEqual([b]);
    // Owners: set at enqueue, filtered on.
    const owned = await project.enqueue('Hello', { name: 'c' }, ['--owner', 'user-42']);
    expect((await project.json<TaskLogEntry[]>(['task-log', '--list', '--owner', 'user-42'])).map((e) => [e.id, e.owner])).toEqual([[owned, 'user-42']]);
    expect(await project.json<TaskLogStats>(['task-log', '--stats', '--owner', 'user-42'])).toMatchObject({ enqueued: 1, total: 1 });
  });

  test('enqueue --wait blocks until a worker ran the task; exit 1 when it failed', async () => {
    const worker = project.spawn(['run-worker', '--log-level=silent']);
    const done = collect(worker);
    const ok = await project.run(['enqueue', 'Hello', '--params', '{"name":"w"}', '--wait']);
    expect(ok.code).toBe(0);
    expect(ok.stdout).toMatch(/completed: hello w/);
    const failed = await project.run(['enqueue', 'Fail', '--wait']);
    expect(failed.code).toBe(1);
    expect(failed.stdout).toMatch(/failed: this task always fails/);
    worker.kill('SIGTERM');
    expect((await done).code).toBe(0);
  });

  test('initialize-queue --broker switches brokers, moves pending tasks, and later commands use the switch', async () => {
    const ids = [await enqueue('Hello', { name: 'x' }), await enqueue('Hello', { name: 'y' })];
    const toOther = await project.run(['initialize-queue', '--broker=rds', '--connection=sqlite:./other.db', '--queue=standard']);
    expect(toOther.code).toBe(0);
    expect(toOther.stdout).toMatch(/queue standard: rds -> rds, 2 pending task\(s\) moved/);
    // The worker now reads other.db: it finds the moved tasks there.
    const run = await project.run(['run-worker', '--queue=standard', '--limit=2', '--log-level=silent']);
    expect(run.code).toBe(0);
    for (const id of ids) expect((await project.json<TaskLogEntry>(['task-log', '--get', id])).status).toBe('completed');

    const pending = await enqueue('Hello', { name: 'z' });
    const toMemory = await project.run(['initialize-queue', '--broker=memory', '--log-level=silent']);
    expect(toMemory.code).toBe(0);
    // Moving to the sync broker runs what was pending.
    expect((await project.json<TaskLogEntry>(['task-log', '--get', pending])).status).toBe('completed');
    const sync = await project.run(['enqueue', 'Hello', '--params', '{"name":"now"}', '--wait', '--log-level=silent']);
    expect(sync.code).toBe(0);
    expect(sync.stdout).toMatch(/completed: hello now/);
  });

  test('initialize-queue --broker moves delayed tasks too, keeping their run-at time', async () => {
    const id = await project.enqueue('Hello', { name: 'later' }, ['--delay', '1500']);
    const moved = await project.run(['initialize-queue', '--broker=rds', '--connection=sqlite:./other.db', '--queue=standard']);
    expect(moved.stdout).toMatch(/queue standard: rds -> rds, 1 pending task\(s\) moved/);
    expect(moved.stdout).not.toMatch(/stay on the old broker/);
    const run = await project.run(['run-worker', '--queue=standard', '--limit=1', '--log-level=silent']);
    expect(run.code).toBe(0);
    const entry = await project.json<TaskLogEntry>(['task-log', '--get', id]);
    expect(entry.status).toBe('completed');
    // Still delayed on the new broker: not started before its run-at time.
    expect(new Date(entry.startedAt as unknown as string).getTime() - new Date(entry.createdAt as unknown as string).getTime()).toBeGreaterThanOrEqual(1_400);
  });
});
