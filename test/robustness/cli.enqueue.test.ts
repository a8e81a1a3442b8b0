/** `taskq enqueue` and `run-worker` refuse what no other process could ever see; enqueue takes the names it lists (issue 6, points 2, 5, 6). */
import { CliProject } from '../helpers/cliProject';

const processLocalQueues: [string, object][] = [
  ['memory with sync: false', { type: 'memory', sync: false }],
  ['sqlite::memory:', { type: 'rds', connection: 'sqlite::memory:' }],
];

describe.each(processLocalQueues)('a queue on %s', (_what, broker) => {
  let project: CliProject;
  beforeEach(() => {
    project = new CliProject({
      queues: [{ name: 'standard', broker }],
      taskLog: { type: 'rds', connection: 'sqlite:./taskq.db' },
      tasks: ['./tasks.js'],
    });
  });
  afterEach(() => project.remove());

  test('initialize-queue says it is process-local instead of "ready"', async () => {
    const result = await project.run(['initialize-queue']);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^queue standard \(weight 1\): \w+ process-local: its messages live only inside one process/m);
  });

  test('run-worker refuses it with one line naming the queue and why', async () => {
    await project.run(['initialize-queue']);
    const result = await project.run(['run-worker', '--limit=1']);
    expect(result.code).toBe(2);
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
    expect(result.stderr).toMatch(/queue "standard" keeps its messages inside one process .*: a worker started from the command line would never receive a task enqueued elsewhere/);
  });

  test('enqueue refuses it with one line naming the queue and why; nothing is logged', async () => {
    await project.run(['initialize-queue']);
    const result = await project.run(['enqueue', 'Hello', '--params', '{"name":"x"}']);
    expect(result.code).toBe(2);
    expect(result.stdout).toBe('');
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
    expect(result.stderr).toMatch(/queue "standard" keeps its messages inside one process .*: a task enqueued from the command line would never reach a worker/);
    expect((await project.json<unknown[]>(['task-log', '--list'])).length).toBe(0);
  });
});

describe('taskq enqueue', () => {
  let project: CliProject;
  beforeEach(async () => {
    project = await CliProject.initialized();
  });
  afterEach(() => project.remove());

  test('a callback may be named as the registry lists it (CallbackTask:shout)', async () => {
    const result = await project.run(['enqueue', 'CallbackTask:shout', '--params', '"hey"', '--json']);
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout)).toMatchObject({ name: 'CallbackTask', status: 'enqueued' });
  });

  test('--wait-timeout without --wait is refused', async () => {
    const result = await project.run(['enqueue', 'Hello', '--params', '{"name":"x"}', '--wait-timeout', '1000']);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/--wait-timeout goes with --wait/);
  });
});
