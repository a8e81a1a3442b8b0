import type { ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TaskLogEntry, WorkerStats } from '../../src';
import { CliProject, type CliResult, collect } from '../helpers/cliProject';
import { until } from '../helpers/wait';

jest.setTimeout(90_000);

/**
 * Tasks that misbehave the way issue 6 describes. Each waits for its run's signal (or a long
 * time) so that only the fault, the exit or the cancel ends it.
 */
const FAULTS_JS = `
const { AbstractTask } = require('taskq');
const untilAborted = (ctx, ms) => new Promise((resolve) => {
  const timer = setTimeout(resolve, ms);
  ctx.signal.addEventListener('abort', () => { clearTimeout(timer); resolve(); }, { once: true });
});
class ThrowsInTimer extends AbstractTask {
  static taskName = 'ThrowsInTimer';
  async run(ctx) {
    setTimeout(() => { throw new Error('boom from a timer'); }, 50);
    await untilAborted(ctx, 30000);
    return 'not reached before the fault';
  }
}
class RejectsUnawaited extends AbstractTask {
  static taskName = 'RejectsUnawaited';
  async run(ctx) {
    (async () => { await new Promise((r) => setTimeout(r, 50)); throw new Error('floating rejection'); })();
    await untilAborted(ctx, 30000);
    return 'not reached before the fault';
  }
}
class ThrowsAfterItEnds extends AbstractTask {
  static taskName = 'ThrowsAfterItEnds';
  async run() {
    setTimeout(() => { throw new Error('late boom'); }, 100);
    return 'done';
  }
}
class CallsExit extends AbstractTask {
  static taskName = 'CallsExit';
  async run() {
    await new Promise((r) => setTimeout(r, 50));
    process.exit(0);
  }
}
class WaitsForCancel extends AbstractTask {
  static taskName = 'WaitsForCancel';
  async run(ctx) {
    await untilAborted(ctx, 120000);
    return 'ended';
  }
}
module.exports = { ThrowsInTimer, RejectsUnawaited, ThrowsAfterItEnds, CallsExit, WaitsForCancel };
`;

interface LogLine {
  level: number;
  msg: string;
  [field: string]: unknown;
}

const logLines = (stderr: string): LogLine[] =>
  stderr
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as LogLine);

/** The run ends within `ms`, or is killed and reported as hanging. */
async function ended(done: Promise<CliResult>, kill: () => void, ms: number): Promise<CliResult | 'hung'> {
  let timer: NodeJS.Timeout | undefined;
  const hung = new Promise<'hung'>((resolve) => (timer = setTimeout(() => resolve('hung'), ms)));
  const result = await Promise.race([done, hung]);
  clearTimeout(timer);
  if (result === 'hung') {
    kill();
    await done;
  }
  return result;
}

describe('run-worker survives faults of its tasks (real CLI, SQLite)', () => {
  let project: CliProject;
  const children: ChildProcess[] = [];

  beforeEach(async () => {
    project = await CliProject.initialized();
    writeFileSync(join(project.dir, 'faults.js'), FAULTS_JS);
    const config = JSON.parse(readFileSync(join(project.dir, 'taskq.config.json'), 'utf8')) as { tasks: string[] };
    project.writeConfig({ ...config, tasks: [...config.tasks, './faults.js'] });
  });
  afterEach(() => {
    // A test that failed half-way leaves no worker behind.
    for (const child of children.splice(0)) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    project.remove();
  });

  const entry = (id: string) => project.json<TaskLogEntry>(['task-log', '--get', id]);
  const worker = (args: string[]) => {
    const child = project.spawn(['run-worker', '--queue=standard', '--lease-ms=900', ...args]);
    children.push(child);
    return { child, done: collect(child) };
  };

  test.each([
    ['ThrowsInTimer', 'uncaught exception', 'boom from a timer'],
    ['RejectsUnawaited', 'unhandled rejection', 'floating rejection'],
  ])('%s: the %s fails its task, is logged as one structured line, and the worker keeps working', async (name, fault, message) => {
    const bad = await project.enqueue(name, {});
    const good = await project.enqueue('Hello', { name: 'after the fault' });
    const { child, done } = worker(['--limit=2', '--json']);
    const result = await ended(done, () => child.kill('SIGKILL'), 30_000);
    expect(result).not.toBe('hung');
    const { code, stdout, stderr } = result as CliResult;
    expect(stderr).not.toMatch(/^\s+at /m); // no raw stack trace outside the JSON lines
    expect(code).toBe(0);
    expect(JSON.parse(stdout) as WorkerStats).toEqual({ processed: 2, completed: 1, failed: 1, retried: 0 });
    const line = logLines(stderr).find((l) => l.fault === fault);
    expect(line).toMatchObject({ level: 50, taskId: bad, taskName: name, error: message });
    expect(line?.msg).toContain('the worker keeps working');

    const failed = await entry(bad);
    expect(failed.status).toBe('failed');
    expect(JSON.stringify(failed.report)).toContain(message);
    expect((await entry(good)).status).toBe('completed');
  });

  test('a fault from a run that has already ended is logged with its task, and changes nothing', async () => {
    const first = await project.enqueue('ThrowsAfterItEnds', {});
    const second = await project.enqueue('Slow', { ms: 600 });
    const { child, done } = worker(['--limit=2']);
    const result = await ended(done, () => child.kill('SIGKILL'), 30_000);
    expect(result).not.toBe('hung');
    const { code, stderr } = result as CliResult;
    expect(code).toBe(0);
    expect(logLines(stderr).find((l) => l.fault === 'uncaught exception')).toMatchObject({ taskId: first, error: 'late boom' });
    expect((await entry(first)).status).toBe('completed');
    expect((await entry(second)).status).toBe('completed');
  });

  test('--exit-on-uncaught fails the task, stops gracefully, and exits 1', async () => {
    const bad = await project.enqueue('ThrowsInTimer', {});
    const { child, done } = worker(['--exit-on-uncaught']);
    const result = await ended(done, () => child.kill('SIGKILL'), 30_000);
    expect(result).not.toBe('hung');
    const { code, stderr } = result as CliResult;
    expect(code).toBe(1);
    const lines = logLines(stderr);
    expect(lines.find((l) => l.fault === 'uncaught exception')).toMatchObject({ taskId: bad, error: 'boom from a timer' });
    expect(lines.some((l) => l.msg === 'worker stopped')).toBe(true);
    expect((await entry(bad)).status).toBe('failed');
  });

  test('a task calling process.exit(0) is logged and the worker exits non-zero', async () => {
    const id = await project.enqueue('CallsExit', {});
    const { child, done } = worker([]);
    const result = await ended(done, () => child.kill('SIGKILL'), 30_000);
    expect(result).not.toBe('hung');
    const { code, stderr } = result as CliResult;
    expect(code).toBe(1);
    const line = logLines(stderr).find((l) => l.msg.includes('called process.exit(0)'));
    expect(line).toMatchObject({ level: 50, taskId: id, taskName: 'CallsExit', exitCode: 1 });
  });

  test('normal exits are not mistaken for a task\'s: --limit exits 0, a second SIGTERM exits 1, neither logs process.exit', async () => {
    await project.enqueue('Hello', { name: 'x' });
    const limited = await project.run(['run-worker', '--queue=standard', '--limit=1']);
    expect(limited.code).toBe(0);
    expect(limited.stderr).not.toContain('process.exit');

    const id = await project.enqueue('WaitsForCancel', {});
    const { child, done } = worker([]);
    let err = '';
    child.stderr?.on('data', (d: Buffer) => (err += d.toString()));
    await until(async () => (await entry(id)).status === 'running', 20_000, 'the task to start');
    child.kill('SIGTERM');
    // Two signals sent at once may arrive as one: send the second once the first was seen.
    await until(() => err.includes('SIGTERM: finishing running tasks'), 10_000, 'the first SIGTERM to be seen');
    child.kill('SIGTERM');
    const twice = await ended(done, () => child.kill('SIGKILL'), 15_000);
    expect(twice).not.toBe('hung');
    expect((twice as CliResult).code).toBe(1);
    expect((twice as CliResult).stderr).not.toContain('process.exit');
  });

  test('task-log --cancel --force of the only task of --limit=1 ends the worker: a forced cancel is an ended run', async () => {
    const id = await project.enqueue('WaitsForCancel', {});
    const { child, done } = worker(['--limit=1', '--json']);
    await until(async () => (await entry(id)).status === 'running', 20_000, 'the task to start');
    const cancel = await project.run(['task-log', '--cancel', id, '--force']);
    expect(cancel.code).toBe(0);
    const result = await ended(done, () => child.kill('SIGKILL'), 15_000);
    expect(result).not.toBe('hung');
    const { code, stdout, stderr } = result as CliResult;
    expect(code).toBe(0);
    expect((JSON.parse(stdout) as WorkerStats).processed).toBe(1);
    expect(logLines(stderr).find((l) => l.taskId === id && l.status === 'cancelled')).toBeDefined();
    expect((await entry(id)).status).toBe('cancelled');
  });
});
