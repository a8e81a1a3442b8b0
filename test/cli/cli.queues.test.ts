import { CliProject, collect } from '../helpers/cliProject';
import { usePostgresDatabase } from '../helpers/postgres';
import { until } from '../helpers/wait';

// Worker processes start slowly while other suites load both cores: generous bounds on waits.
jest.setTimeout(120_000);

interface TaskDepthJson {
  taskName: string;
  waiting: number;
  running: number;
  oldestWaitingAt: string | null;
  oldestWaitingAgeMs: number | null;
}
type QueueDepthJson = Omit<TaskDepthJson, 'taskName'> & { queue: string; broker: string; messages: number; tasks: TaskDepthJson[] };

let projects = 0;

function queuesOn(name: string, connection: () => string): void {
  describe(`taskq queues (real processes, ${name})`, () => {
    let project: CliProject;

    beforeEach(async () => {
      // Tables of its own: the PostgreSQL database is shared by the file's tests.
      const n = ++projects;
      project = await CliProject.initialized(CliProject.config(connection(), { messages: `messages_${n}`, taskLog: `task_log_${n}` }));
    });

    afterEach(() => project.remove());

    test('--json: per queue its broker, messages, waiting and running tasks, per task name, with the oldest waiting', async () => {
      const before = Date.now();
      for (let i = 0; i < 3; i++) await project.enqueue('Hello', { name: `n${i}` });
      for (let i = 0; i < 2; i++) await project.enqueue('shout', `s${i}` as never);
      const depths = await project.json<QueueDepthJson[]>(['queues']);
      expect(depths.map((d) => d.queue)).toEqual(['standard', 'priority']);
      expect(depths[0]).toMatchObject({ broker: 'rds', messages: 3, waiting: 3, running: 0, tasks: [{ taskName: 'Hello', waiting: 3, running: 0 }] });
      expect(depths[1]).toMatchObject({ broker: 'rds', messages: 2, waiting: 2, running: 0, tasks: [{ taskName: 'CallbackTask:shout', waiting: 2, running: 0 }] });
      const oldest = Date.parse(depths[0].oldestWaitingAt as string);
      expect(oldest).toBeGreaterThanOrEqual(before - 1_000);
      expect(oldest).toBeLessThanOrEqual(Date.now());
      expect(depths[0].oldestWaitingAgeMs).toBeGreaterThanOrEqual(0);
      expect(depths[0].tasks[0].oldestWaitingAt).toBe(depths[0].oldestWaitingAt);
    });

    test('the table: one row per queue, then one per queue and task name; a running task counts as running', async () => {
      // Long enough to be running still when the table is printed, on a busy machine too: the
      // worker is killed once it has been (its task's lease is of no concern to this project).
      const slow = await project.enqueue('Slow', { ms: 60_000 });
      await project.enqueue('Hello', { name: 'a' });
      await project.enqueue('shout', 'x' as never);
      const worker = project.spawn(['run-worker', '--queue=standard', '--limit=1', '--concurrency=1', '--log-level=silent']);
      const done = collect(worker);
      await until(async () => (await project.json<{ status: string }>(['task-log', '--get', slow])).status === 'running', 60_000, 'the Slow task to run');

      const result = await project.run(['queues']);
      expect(result).toMatchObject({ code: 0, stderr: '' });
      const [queues, tasks] = result.stdout.trimEnd().split('\n\n');
      const [header, standard, priority] = queues.split('\n');
      expect(header.split(/\s{2,}/)).toEqual(['QUEUE', 'BROKER', 'MESSAGES', 'WAITING', 'RUNNING', 'OLDEST WAITING']);
      expect(standard.split(/\s{2,}/)).toEqual(['standard', 'rds', '2', '1', '1', expect.stringMatching(/^\d+s$/)]);
      expect(priority.split(/\s{2,}/)).toEqual(['priority', 'rds', '1', '1', '0', expect.stringMatching(/^\d+s$/)]);
      const [taskHeader, ...taskRows] = tasks.split('\n');
      expect(taskHeader.split(/\s{2,}/)).toEqual(['QUEUE', 'TASK', 'WAITING', 'RUNNING', 'OLDEST WAITING']);
      expect(taskRows.map((row) => row.split(/\s{2,}/))).toEqual([
        ['standard', 'Hello', '1', '0', expect.stringMatching(/^\d+s$/)],
        ['standard', 'Slow', '0', '1', '-'],
        ['priority', 'CallbackTask:shout', '1', '0', expect.stringMatching(/^\d+s$/)],
      ]);
      worker.kill('SIGKILL');
      await done;
    });

    test('empty queues: zeros and no task table; a bad flag exits 2 naming it', async () => {
      const result = await project.run(['queues']);
      expect(result).toMatchObject({ code: 0, stderr: '' });
      expect(result.stdout.trimEnd().split('\n').map((row) => row.split(/\s{2,}/))).toEqual([
        ['QUEUE', 'BROKER', 'MESSAGES', 'WAITING', 'RUNNING', 'OLDEST WAITING'],
        ['standard', 'rds', '0', '0', '0', '-'],
        ['priority', 'rds', '0', '0', '0', '-'],
      ]);
      const bad = await project.run(['queues', '--queue', 'standard']);
      expect(bad.code).toBe(2);
      expect(bad.stderr).toContain("unknown option '--queue'");
    });
  });
}

queuesOn('SQLite', () => 'sqlite:./taskq.db');
const pgUrl = usePostgresDatabase('cli queues');
if (pgUrl) queuesOn('PostgreSQL', () => pgUrl);
