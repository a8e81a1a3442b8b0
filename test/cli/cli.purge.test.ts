import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import type { TaskLogEntry } from '../../src';
import { CLI, CliProject, collect, type CliResult } from '../helpers/cliProject';
import { usePostgresDatabase } from '../helpers/postgres';
import { until } from '../helpers/wait';

// Worker processes start slowly while other suites load both cores: generous bounds on waits.
jest.setTimeout(180_000);

let projects = 0;

function purgeOn(name: string, connection: () => string): void {
  describe(`taskq purge (real processes, ${name})`, () => {
    let project: CliProject;

    beforeEach(async () => {
      // Tables of its own: the PostgreSQL database is shared by the file's tests.
      const n = ++projects;
      project = await CliProject.initialized(CliProject.config(connection(), { messages: `messages_${n}`, taskLog: `task_log_${n}` }));
    });

    afterEach(() => project.remove());

    const entry = (id: string) => project.json<TaskLogEntry>(['task-log', '--get', id]);
    const runs = () => (existsSync(project.runsFile) ? readFileSync(project.runsFile, 'utf8').split('\n').filter(Boolean) : []);
    const waiting = async (queue: string) => (await project.json<Array<{ queue: string; waiting: number; running: number; messages: number }>>(['queues'])).find((d) => d.queue === queue);

    /** The CLI on a terminal (util-linux `script` gives it a pty), answering `answer` to its question. */
    function onTerminal(args: string[], answer: string): Promise<CliResult> {
      const command = [process.execPath, CLI, ...args].map((part) => `'${part}'`).join(' ');
      const child = spawn('script', ['-qec', command, '/dev/null'], { cwd: project.dir, env: { ...process.env, TASKQ_CONFIG: '', TASKQ_TEST_RUNS: project.runsFile }, stdio: ['pipe', 'pipe', 'pipe'] });
      let asked = false;
      child.stdout.on('data', (data: Buffer) => {
        if (!asked && data.toString().includes('[y/N]')) {
          asked = true;
          child.stdin.write(`${answer}\n`);
        }
      });
      return collect(child);
    }

    test('--yes: the waiting tasks end cancelled, saying who purged them, and never run; the other queue runs', async () => {
      const purged = [await project.enqueue('Hello', { name: 'a' }), await project.enqueue('Slow', { ms: 1 })];
      const kept = await project.enqueue('shout', 'x' as never);
      const result = await project.run(['purge', '--queue', 'standard', '--yes']);
      expect(result).toMatchObject({ code: 0, stderr: '', stdout: 'Purged 2 waiting tasks of queue standard (now cancelled); 2 message(s) removed from its broker\n' });
      for (const id of purged) {
        const e = await entry(id);
        expect(e).toMatchObject({ status: 'cancelled', report: { type: 'warning', data: { queue: 'standard', purgedBy: expect.stringMatching(/^.+@.+$/) } } });
        expect(e.report?.message).toMatch(/^Purged from queue standard by .+@.+ before it started$/);
      }
      expect(await waiting('standard')).toMatchObject({ waiting: 0, messages: 0 });
      const worker = await project.run(['run-worker', '--limit=1', '--log-level=silent']);
      expect(worker.code).toBe(0);
      expect((await entry(kept)).status).toBe('completed');
      expect(runs()).toEqual([]);
    });

    test('--task NAME --json: only that name is purged; the rest stays and runs', async () => {
      const hellos = [await project.enqueue('Hello', { name: 'a' }), await project.enqueue('Hello', { name: 'b' })];
      const slow = await project.enqueue('Slow', { ms: 1 });
      const printed = await project.json<Record<string, unknown>>(['purge', '--queue', 'standard', '--task', 'Hello', '--yes']);
      expect(printed).toEqual({ queue: 'standard', taskName: 'Hello', cancelled: 2, messagesRemoved: 2 });
      for (const id of hellos) expect((await entry(id)).status).toBe('cancelled');
      expect(await waiting('standard')).toMatchObject({ waiting: 1, messages: 1 });
      expect((await project.run(['run-worker', '--limit=1', '--log-level=silent'])).code).toBe(0);
      expect((await entry(slow)).status).toBe('completed');
      expect(runs()).toEqual([slow]);
    });

    test('while a worker process runs the queue: every task ends completed and run once, or cancelled and never run', async () => {
      const ids: string[] = [];
      // Long enough that the purge process starts while most still wait (8 s of work on two slots).
      for (let i = 0; i < 16; i++) ids.push(await project.enqueue('Slow', { ms: 1_000 }));
      const worker = project.spawn(['run-worker', '--queue=standard', '--concurrency=2', '--log-level=silent']);
      const done = collect(worker);
      await until(() => runs().length >= 2, 60_000, 'the worker to start two tasks');
      const printed = await project.json<{ cancelled: number; messagesRemoved: number }>(['purge', '--queue', 'standard', '--yes']);
      await until(async () => (await waiting('standard'))?.running === 0, 60_000, 'the runs under way to end');
      worker.kill('SIGTERM');
      expect((await done).code).toBe(0);
      const entries = await project.json<TaskLogEntry[]>(['task-log', '--list', '--limit', '100']);
      expect(entries.map((e) => e.id).sort()).toEqual([...ids].sort());
      const completed = entries.filter((e) => e.status === 'completed').map((e) => e.id);
      const cancelled = entries.filter((e) => e.status === 'cancelled').map((e) => e.id);
      expect(completed.length).toBeGreaterThanOrEqual(2);
      expect(printed.cancelled).toBeGreaterThan(0);
      expect(cancelled.length).toBe(printed.cancelled);
      expect(completed.length + cancelled.length).toBe(ids.length);
      expect(runs().sort()).toEqual(completed.sort());
      expect(await waiting('standard')).toMatchObject({ waiting: 0, messages: 0 });
    });

    test('on a terminal it asks first: "n" purges nothing, "y" purges', async () => {
      const id = await project.enqueue('Hello', { name: 'a' });
      const no = await onTerminal(['purge', '--queue', 'standard'], 'n');
      expect(no.code).toBe(0);
      expect(no.stdout).toContain('Purge 1 waiting tasks of queue standard? [y/N]');
      expect(no.stdout).toContain('nothing purged');
      expect((await entry(id)).status).toBe('enqueued');
      const yes = await onTerminal(['purge', '--queue', 'standard', '--task', 'Hello'], 'y');
      expect(yes.code).toBe(0);
      expect(yes.stdout).toContain('Purge 1 waiting Hello tasks of queue standard? [y/N]');
      expect(yes.stdout).toContain('Purged 1 waiting Hello tasks of queue standard (now cancelled); 1 message(s) removed from its broker');
      expect((await entry(id)).status).toBe('cancelled');
    });

    test('bad usage exits 2 with the reason, and purges nothing', async () => {
      const id = await project.enqueue('Hello', { name: 'a' });
      const noYes = await project.run(['purge', '--queue', 'standard']);
      expect(noYes).toMatchObject({ code: 2, stdout: '', stderr: 'taskq: purge asks for confirmation and stdin is not a terminal: pass --yes to purge without asking\n' });
      const unknown = await project.run(['purge', '--queue', 'nope', '--yes']);
      expect(unknown).toMatchObject({ code: 2, stdout: '', stderr: 'taskq: Unknown queue "nope" (queues: standard, priority)\n' });
      const noQueue = await project.run(['purge', '--yes']);
      expect(noQueue.code).toBe(2);
      expect(noQueue.stderr).toContain("required option '--queue <name>' not specified");
      expect((await entry(id)).status).toBe('enqueued');
    });
  });
}

purgeOn('SQLite', () => 'sqlite:./taskq.db');
const pgUrl = usePostgresDatabase('cli purge');
if (pgUrl) purgeOn('PostgreSQL', () => pgUrl);
