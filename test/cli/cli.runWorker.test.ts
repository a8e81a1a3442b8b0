import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import type { TaskLogEntry, TaskLogStats, WorkerStats } from '../../src';
import { CliProject, collect } from '../helpers/cliProject';
import { until, wait } from '../helpers/wait';

// Worker processes start slowly while the reliability suites load both cores: generous bounds on waits.
jest.setTimeout(120_000);

describe('taskq run-worker (real CLI, SQLite)', () => {
  let project: CliProject;

  beforeEach(async () => {
    project = await CliProject.initialized();
  });

  afterEach(() => project.remove());

  const enqueue = (name: string, params: unknown) => project.enqueue(name, params);
  const entry = (id: string) => project.json<TaskLogEntry>(['task-log', '--get', id]);
  const runsOf = (id: string) => readFileSync(project.runsFile, 'utf8').split('\n').filter((l) => l === id).length;

  test('--queue=standard --limit=5 processes exactly five tasks and exits 0; task-log --stats shows them', async () => {
    for (let i = 0; i < 7; i++) await enqueue('Hello', { name: `n${i}` });
    await enqueue('shout', 'to the priority queue' as never);
    const result = await project.run(['run-worker', '--queue=standard', '--limit=5', '--json', '--log-level=info']);
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout) as WorkerStats).toEqual({ processed: 5, completed: 5, failed: 0, retried: 0 });
    // One log line per task: id, name, status, ms.
    const lines = result.stderr.split('\n').filter((l) => l.includes('"status":"completed"'));
    expect(lines).toHaveLength(5);
    expect(JSON.parse(lines[0])).toMatchObject({ taskName: 'Hello', status: 'completed', taskId: expect.any(String), ms: expect.any(Number) });

    const stats = await project.json<TaskLogStats>(['task-log', '--stats']);
    expect(stats).toMatchObject({ completed: 5, enqueued: 3, total: 8, running: 0, dequeued: 0 });
  });

  test('--limit without --queue consumes every queue, and never leaves prefetched tasks hidden', async () => {
    for (let i = 0; i < 6; i++) await enqueue('Hello', { name: `n${i}` });
    for (let i = 0; i < 6; i++) await enqueue('shout', `s${i}` as never);
    const first = await project.run(['run-worker', '--limit=4', '--json', '--log-level=silent', '--lease-ms=600000']);
    expect(first.code).toBe(0);
    expect((JSON.parse(first.stdout) as WorkerStats).processed).toBe(4);
    // With receive=5 a worker that fetched past its limit would leave tasks leased: the next one
    // must find all eight remaining at once, not after a lease.
    const second = await project.run(['run-worker', '--limit=8', '--json', '--log-level=silent', '--lease-ms=600000']);
    expect(second.code).toBe(0);
    expect((JSON.parse(second.stdout) as WorkerStats).processed).toBe(8);
    expect(await project.json<TaskLogStats>(['task-log', '--stats'])).toMatchObject({ completed: 12, total: 12 });
  });

  test('SIGTERM during a long task lets it finish, then exits 0', async () => {
    const id = await enqueue('Slow', { ms: 1500 });
    await enqueue('Hello', { name: 'after' });
    const worker = project.spawn(['run-worker', '--log-level=info']);
    const done = collect(worker);
    await until(async () => (await entry(id)).status === 'running', 45_000, 'the task to start');
    worker.kill('SIGTERM');
    const result = await done;
    expect(result.code).toBe(0);
    expect(await entry(id)).toMatchObject({ status: 'completed', attempts: 1 });
    expect(result.stderr).toMatch(/SIGTERM: finishing running tasks/);
  });

  test('--claim-ahead: tasks received while a long one runs show running; SIGTERM gives them back unrun, their attempt undone', async () => {
    const slow = await enqueue('Slow', { ms: 2500 });
    const waiting = [await enqueue('Hello', { name: 'a' }), await enqueue('Hello', { name: 'b' })];
    const worker = project.spawn(['run-worker', '--queue=standard', '--prefetch=2', '--claim-ahead', '--log-level=silent']);
    const done = collect(worker);
    await until(async () => (await entry(slow)).status === 'running', 45_000, 'the slow task to start');
    await until(async () => (await Promise.all(waiting.map(entry))).every((e) => e.status === 'running'), 45_000, 'the others claimed ahead');
    worker.kill('SIGTERM');
    expect((await done).code).toBe(0);
    expect(await entry(slow)).toMatchObject({ status: 'completed', attempts: 1 });
    for (const id of waiting) expect(await entry(id)).toMatchObject({ status: 'enqueued', attempts: 0, workerId: null });
    expect(runsOf(waiting[0]) + runsOf(waiting[1])).toBe(0);
  });

  test('a worker killed with SIGKILL mid-task: the task runs again after its lease and completes; nothing lost', async () => {
    const slow = await enqueue('Slow', { ms: 1500 });
    const others = [];
    for (let i = 0; i < 5; i++) others.push(await enqueue('Hello', { name: `n${i}` }));
    const victim = project.spawn(['run-worker', '--queue=standard', '--lease-ms=1000', '--log-level=silent']);
    const victimDone = collect(victim);
    await until(async () => (await entry(slow)).status === 'running', 45_000, 'the slow task to start');
    victim.kill('SIGKILL');
    expect((await victimDone).code).toBeNull();
    expect((await entry(slow)).status).toBe('running');

    const rescuer = await project.run(['run-worker', '--queue=standard', '--limit=6', '--lease-ms=1000', '--json', '--log-level=silent']);
    expect(rescuer.code).toBe(0);
    expect(await entry(slow)).toMatchObject({ status: 'completed', attempts: 2, report: { data: { attempt: 2 } } });
    expect(runsOf(slow)).toBe(2);
    for (const id of others) {
      expect((await entry(id)).status).toBe('completed');
      expect(runsOf(id)).toBe(1);
    }
    expect(await project.json<TaskLogStats>(['task-log', '--stats'])).toMatchObject({ completed: 6, total: 6 });
  });

  test('two worker processes on one SQLite file never both run a task', async () => {
    // Enqueue from a separate application process, as a web app would.
    const script = `
      const { loadConfig, createDispatcher, silentLogger } = require('taskq');
      (async () => {
        const dispatcher = await createDispatcher(await loadConfig(), { logger: silentLogger });
        const Hello = dispatcher.registry.get('Hello');
        await dispatcher.enqueueMany(Array.from({ length: 150 }, (_, i) => new Hello({ name: 'n' + i })));
        await dispatcher.close();
      })();`;
    execFileSync(process.execPath, ['-e', script], { cwd: project.dir });
    const workers = [0, 1].map(() => collect(project.spawn(['run-worker', '--limit=75', '--concurrency=3', '--json', '--log-level=silent'])));
    const results = await Promise.all(workers);
    expect(results.map((r) => r.code)).toEqual([0, 0]);
    expect(results.map((r) => (JSON.parse(r.stdout) as WorkerStats).processed)).toEqual([75, 75]);
    const ran = readFileSync(project.runsFile, 'utf8').trim().split('\n');
    expect(ran).toHaveLength(150);
    expect(new Set(ran).size).toBe(150);
    expect(await project.json<TaskLogStats>(['task-log', '--stats'])).toMatchObject({ completed: 150, total: 150 });
  });

  test('SIGUSR2 pauses and SIGCONT resumes', async () => {
    const worker = project.spawn(['run-worker', '--log-level=info']);
    const done = collect(worker);
    let stderr = '';
    worker.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    await until(async () => stderr.includes('worker started'), 45_000, 'the worker to start');
    worker.kill('SIGUSR2');
    await until(async () => stderr.includes('worker paused'), 5_000, 'the pause');
    const id = await enqueue('Hello', { name: 'paused' });
    await wait(1_500);
    expect((await entry(id)).status).toBe('enqueued');
    worker.kill('SIGCONT');
    await until(async () => (await entry(id)).status === 'completed', 10_000, 'the task after resume');
    worker.kill('SIGINT');
    expect((await done).code).toBe(0);
  });
});
