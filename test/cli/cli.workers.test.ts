import { hostname } from 'node:os';
import type { TaskLogStats, WorkerInfo } from '../../src';
import { CliProject, collect } from '../helpers/cliProject';
import { usePostgresDatabase } from '../helpers/postgres';
import { until } from '../helpers/wait';

// Worker processes start slowly while other suites load both cores: generous bounds on waits.
jest.setTimeout(180_000);

type WorkerJson = Omit<WorkerInfo, 'startedAt' | 'lastSeenAt'> & { startedAt: string; lastSeenAt: string };

function workersOn(name: string, connection: () => string): void {
  describe(`taskq workers (real processes, ${name})`, () => {
    let project: CliProject;

    beforeEach(async () => {
      project = await CliProject.initialized(CliProject.config(connection()));
    });

    afterEach(() => project.remove());

    test('two worker processes show with their queues and tasks run; a stopped one leaves the default view and shows as stopped with --all', async () => {
      for (let i = 0; i < 3; i++) await project.enqueue('Hello', { name: `n${i}` });
      for (let i = 0; i < 2; i++) await project.enqueue('shout', `s${i}` as never);
      const standard = project.spawn(['run-worker', '--queue=standard', '--log-level=silent']);
      const standardDone = collect(standard);
      const priority = project.spawn(['run-worker', '--queue=priority', '--log-level=silent']);
      const priorityDone = collect(priority);
      const workers = (all = false) => project.json<WorkerJson[]>(['workers', ...(all ? ['--all'] : [])]);
      const byPid = async (pid: number | undefined, all = false) => (await workers(all)).find((w) => w.pid === pid);

      await until(async () => (await byPid(standard.pid)) !== undefined && (await byPid(priority.pid)) !== undefined, 60_000, 'both workers in taskq workers');
      expect(await byPid(standard.pid)).toMatchObject({ host: hostname(), queues: ['standard'], status: 'running', alive: true });
      expect(await byPid(priority.pid)).toMatchObject({ host: hostname(), queues: ['priority'], status: 'running', alive: true });
      await until(async () => (await project.json<TaskLogStats>(['task-log', '--stats'])).completed === 5, 60_000, 'the five tasks to run');

      // A pause writes a beat at once: the tasks run so far, without waiting for the next heartbeat.
      standard.kill('SIGUSR2');
      await until(async () => (await byPid(standard.pid))?.status === 'paused', 30_000, 'the paused beat');
      expect(await byPid(standard.pid)).toMatchObject({ tasksRun: 3, queues: ['standard'], alive: true });

      const table = await project.run(['workers']);
      expect(table.code).toBe(0);
      const [header, ...rows] = table.stdout.trim().split('\n');
      expect(header.split(/\s{2,}/)).toEqual(['HOST', 'PID', 'QUEUES', 'STARTED', 'LAST SEEN', 'TASKS RUN', 'STATUS']);
      expect(rows.find((r) => r.includes(` ${standard.pid} `))).toMatch(/standard .* s ago +3 +paused$/);

      priority.kill('SIGTERM');
      expect((await priorityDone).code).toBe(0);
      expect((await workers()).map((w) => w.pid)).toEqual([standard.pid]);
      expect(await byPid(priority.pid, true)).toMatchObject({ queues: ['priority'], tasksRun: 2, status: 'stopped', alive: false });

      standard.kill('SIGTERM');
      expect((await standardDone).code).toBe(0);
      expect(await workers()).toEqual([]);
      expect((await project.run(['workers'])).stdout).toBe('no workers alive (--all shows the ones that stopped)\n');
      expect((await workers(true)).map((w) => [w.pid, w.status, w.tasksRun])).toEqual(
        expect.arrayContaining([
          [standard.pid, 'stopped', 3],
          [priority.pid, 'stopped', 2],
        ]),
      );
    });
  });
}

workersOn('SQLite', () => 'sqlite:./taskq.db');

const pgUrl = usePostgresDatabase('taskq workers');
if (pgUrl) workersOn('PostgreSQL', () => pgUrl);
