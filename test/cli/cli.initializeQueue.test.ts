import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TaskLogEntry, TaskLogStats } from '../../src';
import { CliProject, collect } from '../helpers/cliProject';
import { until } from '../helpers/wait';

jest.setTimeout(90_000);

const SWITCH = ['initialize-queue', '--broker=rds', '--connection=sqlite:./other.db', '--queue=standard'];

/**
 * Gate runs until the file its params name exists (in the worker's folder), so that a test decides
 * when a running task ends. With `failFirst` its first attempt fails, and it is retried once after
 * a one-second backoff.
 */
const GATE_JS = `
const { appendFileSync, existsSync } = require('node:fs');
const { AbstractTask } = require('taskq');
class Gate extends AbstractTask {
  static taskName = 'Gate';
  static maxAttempts = 2;
  static backoff = 1000;
  async run(ctx) {
    appendFileSync(process.env.TASKQ_TEST_RUNS, ctx.taskId + '\\n');
    while (!existsSync(this.getParameter('file'))) await new Promise((r) => setTimeout(r, 50));
    if (this.getParameter('failFirst') && ctx.attempt === 1) throw new Error('fails on its first attempt');
    return { attempt: ctx.attempt };
  }
}
module.exports = { Gate };
`;

describe('taskq initialize-queue --broker', () => {
  let project: CliProject;
  beforeEach(async () => {
    project = await CliProject.initialized();
    writeFileSync(join(project.dir, 'gate.js'), GATE_JS);
    const config = JSON.parse(readFileSync(join(project.dir, 'taskq.config.json'), 'utf8')) as { tasks: string[] };
    project.writeConfig({ ...config, tasks: [...config.tasks, './gate.js'] });
  });
  afterEach(() => project.remove());

  const enqueue = (name: string, params: unknown) => project.enqueue(name, params);
  const entry = (id: string) => project.json<TaskLogEntry>(['task-log', '--get', id]);
  const runsOf = (id: string) => (existsSync(project.runsFile) ? readFileSync(project.runsFile, 'utf8').split('\n').filter((l) => l === id).length : 0);
  const open = (gate: string) => writeFileSync(join(project.dir, gate), '');
  const stateFile = () => join(project.dir, '.taskq', 'state.json');
  /** Starts a worker that takes exactly one task, and waits until that task runs. */
  const workerRunning = async (id: string, extra: string[] = []) => {
    const child = project.spawn(['run-worker', '--queue=standard', '--limit=1', '--log-level=silent', ...extra]);
    const done = collect(child);
    await until(async () => runsOf(id) === 1, 20_000, 'the task to start');
    return { child, done };
  };
  /** Spawns the switch with `extra` flags; resolves once it says it is waiting. */
  const switchWaiting = async (extra: string[]) => {
    const child = project.spawn([...SWITCH, ...extra, '--log-level=silent']);
    const done = collect(child);
    let out = '';
    child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
    await until(async () => out.includes('waiting for'), 20_000, 'the switch to wait');
    return { child, done };
  };

  test('switches brokers, moves pending tasks, and later commands use the switch', async () => {
    const ids = [await enqueue('Hello', { name: 'x' }), await enqueue('Hello', { name: 'y' })];
    const toOther = await project.run(SWITCH);
    expect(toOther.code).toBe(0);
    expect(toOther.stdout).toMatch(/queue standard: rds -> rds, 2 pending task\(s\) moved/);
    // The worker now reads other.db: it finds the moved tasks there.
    const run = await project.run(['run-worker', '--queue=standard', '--limit=2', '--log-level=silent']);
    expect(run.code).toBe(0);
    for (const id of ids) expect((await entry(id)).status).toBe('completed');

    const pending = await enqueue('Hello', { name: 'z' });
    const toMemory = await project.run(['initialize-queue', '--broker=memory', '--log-level=silent']);
    expect(toMemory.code).toBe(0);
    // Moving to the sync broker runs what was pending.
    expect((await entry(pending)).status).toBe('completed');
    const sync = await project.run(['enqueue', 'Hello', '--params', '{"name":"now"}', '--wait', '--log-level=silent']);
    expect(sync.code).toBe(0);
    expect(sync.stdout).toMatch(/completed: hello now/);
  });

  test('moves delayed tasks too, keeping their run-at time', async () => {
    const id = await project.enqueue('Hello', { name: 'later' }, ['--delay', '1500']);
    const moved = await project.run(SWITCH);
    expect(moved.stdout).toMatch(/queue standard: rds -> rds, 1 pending task\(s\) moved/);
    expect(moved.stdout).not.toMatch(/stay on the old broker/);
    const run = await project.run(['run-worker', '--queue=standard', '--limit=1', '--log-level=silent']);
    expect(run.code).toBe(0);
    const done = await entry(id);
    expect(done.status).toBe('completed');
    // Still delayed on the new broker: not started before its run-at time.
    expect(new Date(done.startedAt as unknown as string).getTime() - new Date(done.createdAt as unknown as string).getTime()).toBeGreaterThanOrEqual(1_400);
  });

  test.each([
    [['initialize-queue', '--force'], /--force goes with --broker/],
    [[...SWITCH, '--wait-timeout=1000'], /--wait-timeout goes with --force/],
    [[...SWITCH, '--force', '--wait-timeout=0'], /--wait-timeout must be a whole number >= 1/],
  ])('taskq %j → exit 2', async (args, pattern) => {
    const result = await project.run(args);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(pattern);
  });

  test('is refused while a worker holds a task, changing nothing; --force waits for it, then switches', async () => {
    const held = await enqueue('Gate', { file: 'gate-1' });
    const waiting = [await enqueue('Hello', { name: 'b' }), await enqueue('Hello', { name: 'c' })];
    const worker = await workerRunning(held);

    const refused = await project.run(SWITCH);
    expect(refused.code).toBe(1);
    expect(refused.stderr.trim().split('\n')).toHaveLength(1);
    expect(refused.stderr).toMatch(/queue standard: 1 task\(s\) held by running workers on the old broker \(rds\); switching now would strand them there\. Stop those workers .* and run this again, or add --force to wait for them/);
    expect(refused.stdout).toBe('');
    // Nothing changed: no state written, the new storage not even opened, nothing moved.
    expect(existsSync(stateFile())).toBe(false);
    expect(existsSync(join(project.dir, 'other.db'))).toBe(false);
    for (const id of waiting) expect((await entry(id)).status).toBe('enqueued');

    const forced = await switchWaiting(['--force']);
    // Waiting: the switch is not recorded yet, so every process still uses the old broker.
    expect(existsSync(stateFile())).toBe(false);
    open('gate-1');
    const result = await forced.done;
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/queue standard: waiting for 1 leased task\(s\) on the old broker/);
    expect(result.stdout).toMatch(/queue standard: rds -> rds, 2 pending task\(s\) moved/);
    expect((await worker.done).code).toBe(0);
    expect((await entry(held)).status).toBe('completed');
    expect(JSON.parse(readFileSync(stateFile(), 'utf8'))).toEqual({ queues: { standard: { type: 'rds', connection: 'sqlite:./other.db', receive: 5 } } });

    // A worker on the new broker runs what moved; nothing lost, nothing run twice.
    const after = await project.run(['run-worker', '--queue=standard', '--limit=2', '--log-level=silent']);
    expect(after.code).toBe(0);
    for (const id of [held, ...waiting]) {
      expect((await entry(id)).status).toBe('completed');
      expect(runsOf(id)).toBe(1);
    }
    expect(await project.json<TaskLogStats>(['task-log', '--stats'])).toMatchObject({ completed: 3, total: 3 });
  });

  test('--force moves a task its worker gives back for a retry; it runs its second attempt on the new broker', async () => {
    const flaky = await enqueue('Gate', { file: 'gate-1', failFirst: true });
    const worker = await workerRunning(flaky);
    expect((await project.run(SWITCH)).code).toBe(1);

    const forced = await switchWaiting(['--force']);
    open('gate-1');
    const result = await forced.done;
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/queue standard: rds -> rds, 1 pending task\(s\) moved/);
    expect((await worker.done).code).toBe(0);
    // Moving it marked it dequeued (handed on just now), so no lost-task sweep takes it for lost.
    expect(await entry(flaky)).toMatchObject({ status: 'dequeued', attempts: 1 });

    const after = await project.run(['run-worker', '--queue=standard', '--limit=1', '--log-level=silent']);
    expect(after.code).toBe(0);
    expect(await entry(flaky)).toMatchObject({ status: 'completed', attempts: 2, report: { data: { attempt: 2 } } });
    expect(runsOf(flaky)).toBe(2);
  });

  test('--force moves the task of a worker that died, once its lease ends', async () => {
    const orphan = await enqueue('Gate', { file: 'gate-1' });
    const victim = await workerRunning(orphan, ['--lease-ms=2000']);
    victim.child.kill('SIGKILL');
    await victim.done;

    const forced = await project.run([...SWITCH, '--force']);
    expect(forced.code).toBe(0);
    expect(forced.stdout).toMatch(/queue standard: rds -> rds, 1 pending task\(s\) moved/);
    // The moved task runs again on the new broker, as it would have on the old one.
    open('gate-1');
    const rescuer = await project.run(['run-worker', '--queue=standard', '--limit=1', '--lease-ms=2000', '--log-level=silent']);
    expect(rescuer.code).toBe(0);
    expect(await entry(orphan)).toMatchObject({ status: 'completed', attempts: 2 });
    expect(runsOf(orphan)).toBe(2);
  });

  test('--force gives up on --wait-timeout or Ctrl-C: nothing switched, what moved goes back to the old broker', async () => {
    const held = await enqueue('Gate', { file: 'gate-1' });
    const waiting = await enqueue('Hello', { name: 'b' });
    const worker = await workerRunning(held);

    const timedOut = await project.run([...SWITCH, '--force', '--wait-timeout=1500']);
    expect(timedOut.code).toBe(1);
    expect(timedOut.stdout).toMatch(/queue standard: waiting for 1 leased task\(s\) on the old broker/);
    expect(timedOut.stderr).toMatch(/queue standard: 1 task\(s\) still held by running workers on the old broker \(rds\)/);
    expect(timedOut.stderr).toMatch(/gave up after waiting 1500 ms: nothing switched; the 1 task\(s\) moved meanwhile are back on the old broker/);
    expect(existsSync(stateFile())).toBe(false);

    const { child, done } = await switchWaiting(['--force']);
    child.kill('SIGINT');
    const interrupted = await done;
    expect(interrupted.code).toBe(1);
    expect(interrupted.stderr).toMatch(/interrupted: nothing switched; the 1 task\(s\) moved meanwhile are back on the old broker/);
    expect(existsSync(stateFile())).toBe(false);

    // Both are still on the old broker, which the config names: workers there run them.
    open('gate-1');
    expect((await worker.done).code).toBe(0);
    const old = await project.run(['run-worker', '--queue=standard', '--limit=1', '--log-level=silent']);
    expect(old.code).toBe(0);
    for (const id of [held, waiting]) {
      expect((await entry(id)).status).toBe('completed');
      expect(runsOf(id)).toBe(1);
    }
  });
});
