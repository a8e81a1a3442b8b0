import { rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { RdsTaskLogBroker, TaskStatus, type TaskLogEntry, type TaskLogStats } from '../../src';
import { CliProject, collect } from '../helpers/cliProject';

const ROOT = resolve(__dirname, '../..');

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
    [['run-worker', '--prefetch=-1'], /--prefetch must be a whole number >= 0/],
    [['run-worker', '--limit', '99999999999999999999'], /--limit is too large \(at most 9007199254740991\)/],
    [['run-worker', '--lease-ms=40'], /leaseMs must be at least 100 ms/],
    [['run-worker', '--bogus'], /unknown option '--bogus'/],
    [['no-such-command'], /unknown command 'no-such-command'/],
    [['initialize-queue', '--broker=redis'], /--broker must be one of memory, rds, sqs/],
    [['initialize-queue', '--region=eu-west-1'], /--region goes with --broker=sqs/],
    [['initialize-queue', '--broker=memory', '--connection=sqlite:./x.db'], /--connection goes with --broker=rds/],
    [['initialize-queue', '--broker=sqs', '--receive=11'], /--receive with --broker=sqs must be from 1 to 10/],
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

  test('enqueue checks params against the task\'s schema: exit 2 naming each field, nothing enqueued', async () => {
    symlinkSync(join(ROOT, 'node_modules', 'zod'), join(project.dir, 'node_modules', 'zod'), 'dir');
    writeFileSync(join(project.dir, 'typed.js'), `
const { z } = require('zod');
const { AbstractTask } = require('taskq');
class Mail extends AbstractTask {
  static taskName = 'Mail';
  static params = z.object({ to: z.email(), subject: z.string().min(1) });
  run() { return 'sent'; }
}
module.exports = { Mail };
`);
    project.writeConfig({ queues: [{ name: 'standard', broker: { type: 'rds', connection: 'sqlite:./taskq.db' } }], taskLog: { type: 'rds', connection: 'sqlite:./taskq.db' }, tasks: ['./tasks.js', './typed.js'] });
    expect((await project.run(['initialize-queue'])).code).toBe(0);
    expectUsageError(await project.run(['enqueue', 'Mail', '--params', '{"to":"nobody","subject":""}']), /^taskq: Task "Mail" params are invalid: to: .+; subject: .+$/m);
    expect(await project.json<TaskLogStats>(['task-log', '--stats'])).toMatchObject({ total: 0 });
    const ok = await project.run(['enqueue', 'Mail', '--params', '{"to":"ada@example.com","subject":"Hi"}']);
    expect(ok.code).toBe(0);
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
    [JSON.stringify({ queues: [{ name: 'a', broker: { type: 'rds', connection: 'oracle://x' } }] }), /is not one of sqlite:PATH, postgres/],
  ])('bad config %s → one line naming the field, exit 2', async (config, pattern) => {
    project.writeConfig(config);
    expectUsageError(await project.run(['task-log', '--stats']), pattern);
  });

  test('a tasks module that cannot be loaded → one line naming it, exit 2 (for commands that need the tasks)', async () => {
    project.writeConfig(JSON.stringify({ queues: [{ name: 'a', broker: { type: 'memory' } }], tasks: ['./missing.js'] }));
    expectUsageError(await project.run(['enqueue', 'Hello']), /tasks: module "\.\/missing\.js" could not be loaded/);
  });
});

describe('taskq task-log, enqueue --wait', () => {
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
    // A parent's children (a batch's tasks), written as a batch writes them.
    const log = new RdsTaskLogBroker({ connection: `sqlite:${join(project.dir, 'taskq.db')}` });
    const child = (id: string, parentId: string | null) => ({ id, parentId, taskName: 'Hello', label: '', owner: null, queue: 'standard', parameters: {}, createdAt: new Date(), status: TaskStatus.Completed });
    await log.add([child('batch-1', null), child('kid-1', 'batch-1'), child('kid-2', 'batch-1'), child('other', 'batch-2')]);
    await log.close();
    expect((await project.json<TaskLogEntry[]>(['task-log', '--list', '--parent', 'batch-1'])).map((e) => e.id).sort()).toEqual(['kid-1', 'kid-2']);
    expect(await project.json<TaskLogStats>(['task-log', '--stats', '--parent', 'batch-1'])).toMatchObject({ completed: 2, total: 2 });
    const misplaced = await project.run(['task-log', '--get', 'kid-1', '--parent', 'batch-1']);
    expect(misplaced.code).toBe(2);
    expect(misplaced.stderr).toMatch(/--parent goes with --list or --stats/);
  });

  test('enqueue --unique-key returns the pending task of the key; --replace updates it; --after holds a task for its prerequisites', async () => {
    const first = await project.json<{ id: string; outcome: string }>(['enqueue', 'Hello', '--params', '{"name":"a"}', '--unique-key', 'greet:1', '--json']);
    const second = await project.json<{ id: string; outcome: string }>(['enqueue', 'Hello', '--params', '{"name":"b"}', '--unique-key', 'greet:1', '--json']);
    expect(first.outcome).toBe('created');
    expect(second).toMatchObject({ id: first.id, outcome: 'existing' });
    const replaced = await project.run(['enqueue', 'Hello', '--params', '{"name":"c"}', '--unique-key', 'greet:1', '--replace']);
    expect(replaced.stdout.trim()).toBe(first.id);
    expect(replaced.stderr).toMatch(/a task of key "greet:1" was pending: .* \(replaced\)/);
    expect(await project.json<TaskLogEntry>(['task-log', '--get', first.id])).toMatchObject({ parameters: { name: 'c' } });

    const failing = await project.enqueue('Fail', {});
    const dependent = await project.enqueue('Hello', { name: 'later' }, ['--after', `${first.id}, ${failing}`, '--on-prerequisite-failure', 'fail']);
    const worker = project.spawn(['run-worker', '--log-level=silent']);
    const done = collect(worker);
    let ended = await project.json<TaskLogEntry>(['task-log', '--get', dependent]);
    for (let i = 0; i < 100 && ended.status !== 'failed'; i++) {
      await new Promise((resolve) => setTimeout(resolve, 200));
      ended = await project.json<TaskLogEntry>(['task-log', '--get', dependent]);
    }
    worker.kill('SIGTERM');
    expect((await done).code).toBe(0);
    expect(ended).toMatchObject({ status: 'failed', attempts: 0 });
    expect(ended.report?.message).toMatch(new RegExp(`prerequisite ${failing} \\(Fail\\) ended failed: this task always fails`));

    expectUsageError(await project.run(['enqueue', 'Hello', '--after', 'no-such-task']), /enqueue option after names a task not in the task log: no-such-task/);
    expectUsageError(await project.run(['enqueue', 'Hello', '--after', 'a,,b']), /--after must be task ids separated by commas/);
    expectUsageError(await project.run(['enqueue', 'Hello', '--replace']), /replace goes with uniqueKey/);
    expectUsageError(await project.run(['enqueue', 'Hello', '--after', 'x', '--on-prerequisite-failure', 'explode']), /--on-prerequisite-failure.*explode/);
  });

  test('enqueue --wait blocks until a worker ran the task and prints its result; exit 1 when it failed', async () => {
    const worker = project.spawn(['run-worker', '--log-level=silent']);
    const done = collect(worker);
    const ok = await project.run(['enqueue', 'Hello', '--params', '{"name":"w"}', '--wait']);
    expect(ok.code).toBe(0);
    expect(ok.stdout).toMatch(/completed: hello w/);
    // A result is printed as JSON on a line of its own.
    const slow = await project.run(['enqueue', 'Slow', '--params', '{"ms":10}', '--wait']);
    expect(slow.code).toBe(0);
    expect(slow.stdout.trim().split('\n')[1]).toBe('{"slept":10,"attempt":1}');
    const failed = await project.run(['enqueue', 'Fail', '--wait']);
    expect(failed.code).toBe(1);
    expect(failed.stdout).toMatch(/failed: this task always fails/);
    worker.kill('SIGTERM');
    expect((await done).code).toBe(0);
  });
});
