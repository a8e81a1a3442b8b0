import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Client } from 'pg';
import type { TaskLogEntry } from '../../src';
import { CLI, CliProject, type CliResult, collect } from '../helpers/cliProject';
import { usePostgresDatabase } from '../helpers/postgres';

jest.setTimeout(120_000);

/**
 * Output integrity of the real `taskq` as a script uses it: through a shell pipe whose reader is
 * slower than the writer, cut short by `head`, parsed as JSON; stdout holds results only.
 */

/** A task whose report message is `bytes` long, in lines of 1 KiB. */
const BIG_TASKS_JS = `
const { AbstractTask, Report } = require('taskq');
class Big extends AbstractTask {
  static taskName = 'Big';
  async run() {
    const line = 'x'.repeat(1023) + '\\n';
    return Report.success(line.repeat(Math.ceil(this.getParameter('bytes') / 1024)));
  }
}
module.exports = { Big };
`;

const MB = 1024 * 1024;

/** `taskq ARGS | READER` through sh, as a script would; the reader's output and taskq's exit code. */
function piped(project: CliProject, args: string[], reader: string): Promise<CliResult> {
  const quoted = [process.execPath, CLI, ...args].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
  // The shell exits with taskq's exit code, not the reader's; taskq's stderr is the shell's.
  const script = `{ ${quoted}; echo $? > status; } | ${reader}; exit "$(cat status)"`;
  const child = spawn('sh', ['-c', script], {
    cwd: project.dir,
    env: { ...process.env, TASKQ_CONFIG: '' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return collect(child);
}

describe('taskq CLI output through pipes', () => {
  let project: CliProject;
  const ids: string[] = [];

  beforeAll(async () => {
    project = new CliProject();
    writeFileSync(join(project.dir, 'big.js'), BIG_TASKS_JS);
    project.writeConfig({
      queues: [{ name: 'standard', weight: 1, broker: { type: 'rds', connection: 'sqlite:./taskq.db', receive: 5 } }],
      defaultQueue: 'standard',
      taskLog: { type: 'rds', connection: 'sqlite:./taskq.db' },
      tasks: ['./tasks.js', './big.js'],
    });
    const init = await project.run(['initialize-queue']);
    expect(init.code).toBe(0);
    ids.push(await project.enqueue('Big', { bytes: 5 * MB }));
    ids.push(await project.enqueue('Hello', { name: 'small' }));
    const worker = await project.run(['run-worker', '--limit=2']);
    expect(worker.code).toBe(0);
  });
  afterAll(() => project.remove());

  test('task-log --get ID --json of a 5 MB report comes out whole through a slow pipe (| wc -c, then JSON.parse)', async () => {
    const counted = await piped(project, ['task-log', '--get', ids[0], '--json'], '(sleep 1; wc -c)');
    expect(counted.code).toBe(0);
    expect(Number(counted.stdout.trim())).toBeGreaterThan(5 * MB);

    const whole = await piped(project, ['task-log', '--get', ids[0], '--json'], '(sleep 1; cat)');
    expect(whole.code).toBe(0);
    const entry = JSON.parse(whole.stdout) as TaskLogEntry;
    expect(entry.id).toBe(ids[0]);
    expect(entry.report?.message.length).toBeGreaterThanOrEqual(5 * MB);
  });

  test('task-log --list --json over 64 KiB parses through a slow pipe', async () => {
    const result = await piped(project, ['task-log', '--list', '--json'], '(sleep 1; cat)');
    expect(result.code).toBe(0);
    expect(result.stdout.length).toBeGreaterThan(5 * MB);
    const list = JSON.parse(result.stdout) as TaskLogEntry[];
    expect(list.map((e) => e.id).sort()).toEqual([...ids].sort());
  });

  test('task-log --list prints one short line per task; the report in full only with --get', async () => {
    const result = await piped(project, ['task-log', '--list'], '(sleep 1; cat)');
    expect(result.code).toBe(0);
    const lines = result.stdout.trimEnd().split('\n');
    expect(lines.length).toBe(1 + ids.length);
    expect(Math.max(...lines.map((l) => l.length))).toBeLessThan(300);
    expect(lines.some((l) => l.startsWith(ids[0]) && /x…$/.test(l))).toBe(true);
    expect(lines.some((l) => l.startsWith(ids[1]) && /hello small$/.test(l))).toBe(true);

    const full = await piped(project, ['task-log', '--get', ids[0]], '(sleep 1; cat)');
    expect(full.code).toBe(0);
    expect(full.stdout.length).toBeGreaterThan(5 * MB);
  });

  test('stdout closed early (| head -c 100) ends quietly: exit 0, no EPIPE error, no hang', async () => {
    const started = Date.now();
    const result = await piped(project, ['task-log', '--list', '--json'], 'head -c 100');
    expect(result.code).toBe(0);
    expect(result.stdout).toHaveLength(100);
    expect(result.stderr).not.toMatch(/EPIPE|Error|\n\s+at /);
    expect(Date.now() - started).toBeLessThan(20_000);
  });

  test('task-log --get of an unknown id: the reason on stderr, exit 1; stdout empty, or null with --json', async () => {
    const text = await project.run(['task-log', '--get', 'no-such-id']);
    expect(text.code).toBe(1);
    expect(text.stdout).toBe('');
    expect(text.stderr).toMatch(/no task no-such-id in the task log/);

    const json = await project.run(['task-log', '--get', 'no-such-id', '--json']);
    expect(json.code).toBe(1);
    expect(JSON.parse(json.stdout)).toBeNull();
    expect(json.stderr).toMatch(/no task no-such-id in the task log/);
  });
});

describe('taskq CLI: PostgreSQL driver noise stays off stdout', () => {
  let project: CliProject;
  beforeAll(() => {
    // Nothing listens on port 1: every connection attempt fails, and knex warns about it.
    const nowhere = 'postgres://postgres@127.0.0.1:1/nope';
    project = new CliProject({
      queues: [{ name: 'standard', weight: 1, broker: { type: 'rds', connection: nowhere } }],
      defaultQueue: 'standard',
      taskLog: { type: 'rds', connection: nowhere },
      tasks: ['./tasks.js'],
    });
  });
  afterAll(() => project.remove());

  test.each([
    [['task-log', '--list', '--json']],
    [['task-log', '--stats', '--json']],
    [['task-log', '--get', 'some-id', '--json']],
    [['enqueue', 'Hello', '--params', '{"name":"x"}', '--json']],
  ])('taskq %p: stdout empty or JSON, the connection errors on stderr', async (args) => {
    const result = await project.run(args);
    expect(result.code).toBe(1);
    if (result.stdout.trim() !== '') expect(() => JSON.parse(result.stdout) as unknown).not.toThrow();
    expect(result.stdout).not.toMatch(/Acquire connection error|Connection Error|ECONNREFUSED/);
    // One line that says what failed (knex's own copy of the connection error, with its stack, is left out).
    expect(result.stderr).toMatch(/ECONNREFUSED/);
    expect(result.stderr).not.toMatch(/Acquire connection error|afterConnect/);
  });
});

describe('taskq CLI: a PostgreSQL connection killed under a command', () => {
  const url = usePostgresDatabase('CLI output');
  let project: CliProject;
  beforeAll(async () => {
    if (!url) return;
    project = await CliProject.initialized({
      queues: [{ name: 'standard', weight: 1, broker: { type: 'rds', connection: url } }],
      defaultQueue: 'standard',
      taskLog: { type: 'rds', connection: url },
      tasks: ['./tasks.js'],
    });
  });
  afterAll(() => project?.remove());

  test('enqueue --wait --json: "Connection ended unexpectedly" and the like go to stderr; stdout is the JSON entry', async () => {
    if (!url) return;
    // No worker runs: the command polls the task log until --wait-timeout, on pooled connections.
    const child = project.spawn(['enqueue', 'Hello', '--params', '{"name":"x"}', '--wait', '--wait-timeout=8000', '--json']);
    const done = collect(child);
    const admin = new Client({ connectionString: url });
    await admin.connect();
    try {
      // Once the command has connected (its start-up takes longer on a busy machine), and has
      // had a moment to start waiting: then its connections go.
      const others = 'FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()';
      for (let i = 0; i < 200 && Number((await admin.query(`SELECT COUNT(*) AS n ${others}`)).rows[0].n) === 0; i++) await new Promise((resolve) => setTimeout(resolve, 50));
      await new Promise((resolve) => setTimeout(resolve, 500));
      const killed = await admin.query(`SELECT pg_terminate_backend(pid) ${others}`);
      expect(killed.rowCount).toBeGreaterThan(0);
    } finally {
      await admin.end();
    }
    const result = await done;
    expect(result.code).toBe(1);
    expect(result.stdout).not.toMatch(/Connection Error|Connection ended|terminating connection/);
    expect((JSON.parse(result.stdout) as TaskLogEntry).status).toBe('enqueued');
    // knex's "Connection Error: Connection ended unexpectedly" is left out: the command's own
    // error line is what says what failed.
    expect(result.stderr).not.toMatch(/Connection Error:/);
  });
});
