import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TaskLogEntry } from '../../src';
import { CliProject } from '../helpers/cliProject';

jest.setTimeout(90_000);

/** Flaky fails until the file its params name exists (in the worker's folder). */
const FLAKY_JS = `
const { appendFileSync, existsSync } = require('node:fs');
const { AbstractTask } = require('taskq');
class Flaky extends AbstractTask {
  static taskName = 'Flaky';
  async run(ctx) {
    appendFileSync(process.env.TASKQ_TEST_RUNS, ctx.taskId + '\\n');
    if (!existsSync(this.getParameter('file'))) throw new Error('not healed yet');
    return { attempt: ctx.attempt };
  }
}
module.exports = { Flaky };
`;

describe('taskq task-log --rerun', () => {
  let project: CliProject;
  let config: { tasks: string[] };
  beforeAll(async () => {
    project = await CliProject.initialized();
    writeFileSync(join(project.dir, 'flaky.js'), FLAKY_JS);
    config = JSON.parse(readFileSync(join(project.dir, 'taskq.config.json'), 'utf8')) as { tasks: string[] };
    project.writeConfig({ ...config, tasks: [...config.tasks, './flaky.js'] });
  });
  afterAll(() => project.remove());

  const entry = (id: string) => project.json<TaskLogEntry>(['task-log', '--get', id]);
  const runsOf = (id: string) => (existsSync(project.runsFile) ? readFileSync(project.runsFile, 'utf8').split('\n').filter((l) => l === id).length : 0);
  const workOne = async () => {
    const run = await project.run(['run-worker', '--limit=1', '--log-level=silent']);
    expect(run.code).toBe(0);
  };
  /** A Flaky task that ran once and failed. */
  const failedTask = async (file: string) => {
    const id = await project.enqueue('Flaky', { file });
    await workOne();
    expect((await entry(id)).status).toBe('failed');
    return id;
  };

  test('a failed task is published again and a worker runs it again', async () => {
    const id = await failedTask('healed-1');
    const rerun = await project.run(['task-log', '--rerun', id]);
    expect(rerun).toMatchObject({ code: 0, stdout: `Task ${id} (Flaky) published again on queue standard\n` });
    expect(await entry(id)).toMatchObject({ status: 'enqueued', report: { message: 'not healed yet' } });

    writeFileSync(join(project.dir, 'healed-1'), '');
    await workOne();
    expect(await entry(id)).toMatchObject({ status: 'completed', attempts: 2, report: { data: { attempt: 2 } } });
    expect(runsOf(id)).toBe(2);

    // Completed now: refused, exit 1, the reason on stderr.
    const again = await project.run(['task-log', '--rerun', id]);
    expect(again.code).toBe(1);
    expect(again.stdout).toBe('');
    expect(again.stderr).toContain(`taskq: Task ${id} is completed: only a failed or cancelled task can be run again`);
  });

  test('--json prints the id, name, queue and status', async () => {
    const id = await failedTask('healed-2');
    const printed = await project.json<Record<string, unknown>>(['task-log', '--rerun', id]);
    expect(printed).toEqual({ id, name: 'Flaky', queue: 'standard', status: 'enqueued' });
    writeFileSync(join(project.dir, 'healed-2'), '');
    await workOne();
    expect((await entry(id)).status).toBe('completed');
  });

  test('a cancelled task is published again', async () => {
    writeFileSync(join(project.dir, 'healed-3'), '');
    const id = await project.enqueue('Flaky', { file: 'healed-3' });
    expect((await project.run(['task-log', '--cancel', id])).code).toBe(0);
    expect((await project.run(['task-log', '--rerun', id])).code).toBe(0);
    // Two messages now, the cancelled one and the new one: one run; the other message is
    // acknowledged unrun by whichever worker receives it (it does not count towards --limit).
    await workOne();
    expect(await entry(id)).toMatchObject({ status: 'completed', attempts: 1 });
    expect(runsOf(id)).toBe(1);
  });

  test('an unknown id fails (exit 1)', async () => {
    const result = await project.run(['task-log', '--rerun', 'no-such-task']);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('taskq: Task no-such-task was not found in the task log');
  });

  test.each([
    [['--rerun', 'x', '--list'], 'task-log takes exactly one of --stats, --list, --get, --archive, --cancel, --rerun, --prune (got --list, --rerun)'],
    [['--rerun', 'x', '--cancel', 'y'], 'task-log takes exactly one of --stats, --list, --get, --archive, --cancel, --rerun, --prune (got --cancel, --rerun)'],
    [['--rerun', 'x', '--force'], '--force goes with --archive or --cancel'],
    [['--rerun', 'x', '--status', 'failed'], '--status goes with --list or --stats'],
    [['--rerun', 'x', '--limit', '3'], '--limit goes with --list'],
  ])('bad usage: task-log %j exits 2', async (args, reason) => {
    const result = await project.run(['task-log', ...args]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(`taskq: ${reason}`);
  });

  test('needs the tasks modules, unlike --stats: a module that does not load is said so (exit 2)', async () => {
    const id = await failedTask('healed-4');
    writeFileSync(join(project.dir, 'broken.js'), 'throw new Error("syntax trouble");\n');
    project.writeConfig({ ...config, tasks: [...config.tasks, './flaky.js', './broken.js'] }, 'broken.config.json');
    const stats = await project.run(['task-log', '--stats', '--config', 'broken.config.json']);
    expect(stats.code).toBe(0);
    const result = await project.run(['task-log', '--rerun', id, '--config', 'broken.config.json']);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain("taskq: task-log --rerun needs the config's tasks modules, to rebuild the task from its registered class:");
    expect(result.stderr).toContain('syntax trouble');
    expect((await entry(id)).status).toBe('failed');
  });

  test('a task the tasks modules do not register is refused (exit 1)', async () => {
    const id = await failedTask('healed-5');
    project.writeConfig({ ...config }, 'without-flaky.config.json');
    const result = await project.run(['task-log', '--rerun', id, '--config', 'without-flaky.config.json']);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(`taskq: Task ${id} (Flaky) cannot be run again: no task named "Flaky" is registered with this dispatcher`);
    expect((await entry(id)).status).toBe('failed');
  });
});
