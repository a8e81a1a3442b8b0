/**
 * The CLI in an incident and under odd usage (issue 6, points 6 and 7): options that do not apply
 * are refused; the log can be read when the tasks do not load; large params come from a file or stdin.
 */
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CLI, CliProject } from '../helpers/cliProject';

let project: CliProject;
beforeEach(async () => {
  project = await CliProject.initialized();
});
afterEach(() => project.remove());

test.each([
  [['task-log', '--get', 'x', '--status', 'failed'], /--status goes with --list or --stats/],
  [['task-log', '--archive', 'x', '--owner', 'bob'], /--owner goes with --list or --stats/],
  [['task-log', '--stats', '--limit', '5'], /--limit goes with --list/],
  [['task-log', '--stats', '--offset', '5'], /--offset goes with --list/],
])('taskq %j → exit 2: an option that would be ignored is refused', async (args, reason) => {
  const result = await project.run(args);
  expect(result.code).toBe(2);
  expect(result.stderr).toMatch(reason);
});

test('task-log reads the log when the tasks module does not load; enqueue still refuses to start', async () => {
  const id = await project.enqueue('Hello', { name: 'before the incident' });
  writeFileSync(join(project.dir, 'tasks.js'), 'throw new Error("a broken deploy");');
  const list = await project.run(['task-log', '--list', '--json']);
  expect(list.code).toBe(0);
  expect((JSON.parse(list.stdout) as { id: string }[]).map((e) => e.id)).toEqual([id]);
  // A warning on stderr (a JSON log line, so its quotes are escaped).
  expect(list.stderr).toMatch(/tasks: module \\?"\.\/tasks\.js\\?" could not be loaded: a broken deploy; going on without the tasks/);
  const stats = await project.run(['task-log', '--stats', '--json']);
  expect(JSON.parse(stats.stdout)).toMatchObject({ enqueued: 1, total: 1 });
  expect((await project.run(['task-log', '--get', id, '--json'])).code).toBe(0);
  const enqueue = await project.run(['enqueue', 'Hello', '--params', '{"name":"x"}']);
  expect(enqueue.code).toBe(2);
  expect(enqueue.stderr).toMatch(/could not be loaded: a broken deploy/);
});

test('--params-file carries a payload too large for an argument', async () => {
  const name = 'x'.repeat(3_000_000);
  writeFileSync(join(project.dir, 'params.json'), JSON.stringify({ name }));
  const result = await project.run(['enqueue', 'Hello', '--params-file', 'params.json', '--json']);
  expect(result.code).toBe(0);
  const entry = await project.json<{ parameters: { name: string } }>(['task-log', '--get', (JSON.parse(result.stdout) as { id: string }).id]);
  expect(entry.parameters.name).toHaveLength(3_000_000);
});

test('--params - reads the params from stdin', () => {
  const result = spawnSync(process.execPath, [CLI, 'enqueue', 'Hello', '--params', '-', '--json'], { cwd: project.dir, input: '{"name":"from stdin"}', encoding: 'utf8', env: { ...process.env, TASKQ_CONFIG: '' } });
  expect(result.status).toBe(0);
  const { id } = JSON.parse(result.stdout) as { id: string };
  const entry = spawnSync(process.execPath, [CLI, 'task-log', '--get', id, '--json'], { cwd: project.dir, encoding: 'utf8', env: { ...process.env, TASKQ_CONFIG: '' } });
  expect(JSON.parse(entry.stdout)).toMatchObject({ parameters: { name: 'from stdin' } });
});

test('--params-file that cannot be read, or given with --params, is one clear usage error', async () => {
  const missing = await project.run(['enqueue', 'Hello', '--params-file', 'nope.json']);
  expect(missing.code).toBe(2);
  expect(missing.stderr).toMatch(/--params-file nope\.json could not be read: ENOENT/);
  const both = await project.run(['enqueue', 'Hello', '--params', '{}', '--params-file', 'nope.json']);
  expect(both.code).toBe(2);
  expect(both.stderr).toMatch(/give --params or --params-file, not both/);
});

test.each([
  ['a plain object', 'throw { code: 42 };', /could not be read: it threw \{"code":42\}, not an Error/],
  ['an Error', "throw new Error('bad config');", /could not be read: bad config/],
])('a .mjs config that throws %s says what it threw, exit 2', async (_what, body, reason) => {
  project.writeConfig(body, 'taskq.config.mjs');
  const result = await project.run(['task-log', '--stats', '--config', 'taskq.config.mjs']);
  expect(result.code).toBe(2);
  expect(result.stderr).toMatch(reason);
  expect(result.stderr).not.toMatch(/undefined/);
});
