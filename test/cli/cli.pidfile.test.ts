import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TaskLogStats, WorkerStats } from '../../src';
import { CliProject, collect } from '../helpers/cliProject';
import { until } from '../helpers/wait';

// Worker processes start slowly while other suites load both cores: generous bounds on waits.
jest.setTimeout(120_000);

/** The pid of a process that has exited: nothing runs under it now. */
function deadPid(): number {
  const child = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']);
  return Number(child.stdout.toString());
}

describe('taskq run-worker --pidfile / taskq stop-worker --pidfile (real processes, SQLite)', () => {
  let project: CliProject;
  let pidfile: string;

  beforeEach(async () => {
    project = await CliProject.initialized();
    pidfile = join(project.dir, 'worker.pid');
  });

  afterEach(() => project.remove());

  const pidIn = () => (existsSync(pidfile) ? readFileSync(pidfile, 'utf8').trim() : undefined);

  test('run-worker --pidfile writes its pid; a second worker on it exits 2 naming that pid; stop-worker stops it and the pidfile is gone', async () => {
    const worker = project.spawn(['run-worker', '--pidfile', pidfile, '--log-level=info']);
    const workerDone = collect(worker);
    await until(() => pidIn() === String(worker.pid), 45_000, 'the pidfile');

    const second = await project.run(['run-worker', '--pidfile', pidfile]);
    expect(second.code).toBe(2);
    expect(second.stderr).toContain(`worker ${worker.pid} is running`);
    expect(second.stderr.trim().split('\n')).toHaveLength(1);
    expect(pidIn()).toBe(String(worker.pid));

    const stop = await project.run(['stop-worker', '--pidfile', pidfile]);
    expect(stop.code).toBe(0);
    expect(stop.stdout).toMatch(new RegExp(`^worker ${worker.pid} stopped after \\d+\\.\\d s\\n$`));
    const ended = await workerDone;
    expect(ended.code).toBe(0);
    expect(ended.stderr).toMatch(/SIGTERM: finishing running tasks/);
    expect(existsSync(pidfile)).toBe(false);
  });

  test('of two workers started at once on one pidfile, one runs and the other exits 2', async () => {
    const a = project.spawn(['run-worker', '--pidfile', pidfile, '--log-level=silent']);
    const b = project.spawn(['run-worker', '--pidfile', pidfile, '--log-level=silent']);
    const [aDone, bDone] = [collect(a), collect(b)];
    const loser = await Promise.race([aDone.then((r) => ({ r, winner: b })), bDone.then((r) => ({ r, winner: a }))]);
    expect(loser.r.code).toBe(2);
    expect(loser.r.stderr).toContain(`worker ${loser.winner.pid} is running`);
    expect(pidIn()).toBe(String(loser.winner.pid));
    const stop = await project.run(['stop-worker', '--pidfile', pidfile]);
    expect(stop.code).toBe(0);
    expect((await (loser.winner === a ? aDone : bDone)).code).toBe(0);
    expect(existsSync(pidfile)).toBe(false);
  });

  test('a stale pidfile (its process gone) is taken over, said in the log, and removed when the worker ends', async () => {
    const dead = deadPid();
    writeFileSync(pidfile, `${dead}\n`);
    await project.enqueue('Hello', { name: 'a' });
    const result = await project.run(['run-worker', '--pidfile', pidfile, '--max-tasks', '1', '--json', '--log-level=info']);
    expect(result.code).toBe(0);
    expect((JSON.parse(result.stdout) as WorkerStats).processed).toBe(1);
    expect(result.stderr).toContain(`--pidfile ${pidfile}: it named process ${dead}, which is not running; taken over`);
    expect(existsSync(pidfile)).toBe(false);
  });

  test('stop-worker on a stale pidfile says the worker was not running, removes it, exits 0', async () => {
    const dead = deadPid();
    writeFileSync(pidfile, `${dead}\n`);
    const result = await project.run(['stop-worker', '--pidfile', pidfile]);
    expect(result).toMatchObject({ code: 0, stdout: `worker ${dead} was not running; removed its stale pidfile ${pidfile}\n` });
    expect(existsSync(pidfile)).toBe(false);
  });

  test('a pidfile naming a live process that is not a worker (its pid reused) is stale: run-worker takes it over, stop-worker leaves that process alone', async () => {
    const other = spawn(process.execPath, ['-e', 'setTimeout(() => undefined, 120000)'], { stdio: 'ignore' });
    try {
      writeFileSync(pidfile, `${other.pid}\n`);
      const stop = await project.run(['stop-worker', '--pidfile', pidfile]);
      expect(stop.code).toBe(0);
      expect(stop.stdout).toMatch(new RegExp(`^worker ${other.pid} was not running \\(pid ${other.pid} is now another process: .*; left alone\\); removed its stale pidfile`));
      expect(existsSync(pidfile)).toBe(false);
      expect(other.exitCode).toBeNull();
      expect(() => process.kill(other.pid as number, 0)).not.toThrow();

      writeFileSync(pidfile, `${other.pid}\n`);
      await project.enqueue('Hello', { name: 'a' });
      const result = await project.run(['run-worker', '--pidfile', pidfile, '--max-tasks', '1', '--log-level=info']);
      expect(result.code).toBe(0);
      expect(result.stderr).toContain(`it named process ${other.pid}, which is not a taskq worker`);
      expect(existsSync(pidfile)).toBe(false);
      expect(() => process.kill(other.pid as number, 0)).not.toThrow();
    } finally {
      other.kill('SIGKILL');
    }
  });

  test('stop-worker on a missing or garbled pidfile exits 2 with one line saying so; a bad --timeout exits 2', async () => {
    const missing = await project.run(['stop-worker', '--pidfile', pidfile]);
    expect(missing).toMatchObject({ code: 2, stdout: '', stderr: `taskq: --pidfile ${pidfile}: no such file (was the worker started with --pidfile ${pidfile}?)\n` });

    writeFileSync(pidfile, 'not a pid\n');
    const garbled = await project.run(['stop-worker', '--pidfile', pidfile]);
    expect(garbled).toMatchObject({ code: 2, stdout: '', stderr: `taskq: --pidfile ${pidfile}: it holds no pid ("not a pid\\n")\n` });
    expect(existsSync(pidfile)).toBe(true);

    const badTimeout = await project.run(['stop-worker', '--pidfile', pidfile, '--timeout', 'soon']);
    expect(badTimeout.code).toBe(2);
    expect(badTimeout.stderr).toMatch(/--timeout: "soon" is not a duration/);
  });

  test('stop-worker exits 1 when the worker has not stopped within --timeout; the worker still ends its task and exits 0', async () => {
    const slow = await project.enqueue('Slow', { ms: 6_000 });
    const worker = project.spawn(['run-worker', '--pidfile', pidfile, '--log-level=silent']);
    const workerDone = collect(worker);
    await until(async () => (await project.json<{ status: string }>(['task-log', '--get', slow])).status === 'running', 45_000, 'the slow task to start');
    const stop = await project.run(['stop-worker', '--pidfile', pidfile, '--timeout', '1s']);
    expect(stop.code).toBe(1);
    expect(stop.stderr).toContain(`worker ${worker.pid} did not stop within 1.0 s of SIGTERM`);
    expect((await workerDone).code).toBe(0);
    expect(await project.json<{ status: string }>(['task-log', '--get', slow])).toMatchObject({ status: 'completed' });
    expect(existsSync(pidfile)).toBe(false);
  });
});

describe('taskq run-worker --max-tasks / --max-memory (real processes, SQLite)', () => {
  let project: CliProject;

  beforeEach(async () => {
    project = await CliProject.initialized();
  });

  afterEach(() => project.remove());

  test('--max-tasks N runs N tasks and exits 0, as --limit does', async () => {
    for (let i = 0; i < 4; i++) await project.enqueue('Hello', { name: `n${i}` });
    const result = await project.run(['run-worker', '--max-tasks', '3', '--json', '--log-level=silent']);
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout) as WorkerStats).toEqual({ processed: 3, completed: 3, failed: 0, retried: 0 });
    expect(await project.json<TaskLogStats>(['task-log', '--stats'])).toMatchObject({ completed: 3, enqueued: 1 });
  });

  test('--max-tasks and a different --limit together are a usage error (exit 2)', async () => {
    const result = await project.run(['run-worker', '--max-tasks', '3', '--limit', '4']);
    expect(result).toMatchObject({ code: 2, stderr: 'taskq: --max-tasks is the same as --limit: give one of them\n' });
  });

  test('--max-memory 1: over it at its first check, the worker stops gracefully and exits 0, saying why', async () => {
    const worker = project.spawn(['run-worker', '--max-memory', '1', '--json', '--log-level=info']);
    const result = await collect(worker);
    expect(result.code).toBe(0);
    const line = result.stderr.split('\n').find((l) => l.includes('--max-memory'));
    expect(line).toBeDefined();
    expect(JSON.parse(line as string)).toMatchObject({ msg: expect.stringMatching(/^resident memory \d+ MB is over --max-memory 1 MB: finishing running tasks, then exiting 0/), maxMemoryMb: 1 });
    expect(result.stderr).toMatch(/"msg":"worker stopped"/);
    expect(JSON.parse(result.stdout) as WorkerStats).toMatchObject({ processed: 0 });
  });

  test('--max-memory above what the worker uses lets it run its tasks', async () => {
    for (let i = 0; i < 2; i++) await project.enqueue('Hello', { name: `n${i}` });
    const result = await project.run(['run-worker', '--max-memory', '100000', '--max-tasks', '2', '--log-level=info']);
    expect(result.code).toBe(0);
    expect(result.stderr).not.toContain('--max-memory');
    expect(await project.json<TaskLogStats>(['task-log', '--stats'])).toMatchObject({ completed: 2 });
  });

  test('--max-memory 0 is a usage error naming the flag', async () => {
    const result = await project.run(['run-worker', '--max-memory', '0']);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/--max-memory must be a whole number >= 1/);
  });
});
