import { join } from 'node:path';
import { RdsTaskLogBroker, TaskStatus, type NewTaskLogEntry, type TaskLogEntry, type TaskLogStats } from '../../src';
import { CliProject, collect } from '../helpers/cliProject';
import { usePostgresDatabase } from '../helpers/postgres';
import { until } from '../helpers/wait';

// Worker processes start slowly while other suites load both cores: generous bounds on waits.
jest.setTimeout(180_000);

const DAY = 86_400_000;
let projects = 0;

function pruneOn(name: string, connection: (dir: string) => string): void {
  describe(`taskq task-log --prune (real processes, ${name})`, () => {
    let project: CliProject;
    let table: string;
    let config: Record<string, unknown>;

    beforeEach(async () => {
      // Tables of its own: the PostgreSQL database is shared by the file's tests.
      const n = ++projects;
      table = `task_log_${n}`;
      const broker = { type: 'rds', connection: connection('.'), receive: 5, table: `messages_${n}` };
      config = {
        queues: [
          { name: 'standard', weight: 30, broker },
          { name: 'priority', weight: 90, broker },
        ],
        defaultQueue: 'standard',
        associations: { shout: 'priority' },
        taskLog: { type: 'rds', connection: connection('.'), table },
        tasks: ['./tasks.js'],
      };
      project = await CliProject.initialized(config);
    });

    afterEach(() => project.remove());

    /** Rows written straight into the project's task log, as an older taskq left them. */
    async function addEntries(entries: Array<{ id: string; status: TaskStatus; daysAgo: number }>): Promise<void> {
      const log = new RdsTaskLogBroker({ connection: connection(project.dir), table });
      try {
        await log.add(entries.map(({ id, status, daysAgo }): NewTaskLogEntry => ({ id, parentId: null, taskName: 'Hello', label: '', owner: null, queue: 'standard', parameters: {}, createdAt: new Date(Date.now() - daysAgo * DAY), status })));
      } finally {
        await log.close();
      }
    }
    const ids = async () => (await project.json<TaskLogEntry[]>(['task-log', '--list', '--status', 'failed', '--limit', '100'])).map((e) => e.id).sort();
    const stats = () => project.json<TaskLogStats>(['task-log', '--stats']);

    test('--older-than 30d deletes the ended entries older than that, never a waiting one; --status narrows it', async () => {
      await addEntries([
        ...Array.from({ length: 5 }, (_, i) => ({ id: `old-failed-${i}`, status: TaskStatus.Failed, daysAgo: 40 })),
        { id: 'old-cancelled', status: TaskStatus.Cancelled, daysAgo: 40 },
        { id: 'old-waiting', status: TaskStatus.Enqueued, daysAgo: 40 },
        { id: 'recent-failed', status: TaskStatus.Failed, daysAgo: 1 },
      ]);
      const completed = await project.enqueue('Hello', { name: 'now' });
      expect((await project.run(['run-worker', '--limit=1', '--log-level=silent'])).code).toBe(0);

      const cancelledOnly = await project.run(['task-log', '--prune', '--older-than', '30d', '--status', 'cancelled']);
      expect(cancelledOnly.code).toBe(0);
      expect(cancelledOnly.stdout).toMatch(/^Pruned 1 task-log entries \(cancelled\) that ended before \d{4}-\d\d-\d\dT[\d:.]+Z\n$/);
      expect(await stats()).toMatchObject({ cancelled: 0, failed: 6 });

      const before = Date.now();
      const printed = await project.json<{ pruned: number; olderThan: string; statuses: string[] }>(['task-log', '--prune', '--older-than', '30d']);
      expect(printed).toMatchObject({ pruned: 5, statuses: ['completed', 'failed', 'cancelled', 'archived'] });
      expect(Math.abs(Date.parse(printed.olderThan) - (before - 30 * DAY))).toBeLessThan(60_000);
      expect(await ids()).toEqual(['recent-failed']);
      expect(await stats()).toMatchObject({ enqueued: 1, completed: 1, failed: 1, total: 3 });
      expect((await project.json<TaskLogEntry>(['task-log', '--get', completed])).status).toBe('completed');
      expect((await project.json<TaskLogEntry>(['task-log', '--get', 'old-waiting'])).status).toBe('enqueued');
    });

    test('bad flags exit 2 naming the problem, and delete nothing', async () => {
      await addEntries([{ id: 'old-failed', status: TaskStatus.Failed, daysAgo: 40 }]);
      const cases: Array<[string[], string]> = [
        [['--prune'], 'taskq: --prune needs --older-than DURATION (such as 30d, 12h, 90m, 45s)\n'],
        [['--prune', '--older-than', '30x'], 'taskq: --older-than: "30x" is not a duration: give a whole number above 0 and a unit, d, h, m or s (such as 30d, 12h, 90m, 45s)\n'],
        [['--prune', '--older-than', '0d'], 'taskq: --older-than: "0d" is not a duration: give a whole number above 0 and a unit, d, h, m or s (such as 30d, 12h, 90m, 45s)\n'],
        [['--stats', '--older-than', '30d'], 'taskq: --older-than goes with --prune\n'],
        [['--prune', '--older-than', '30d', '--status', 'running'], 'taskq: --status running: --prune deletes ended tasks only; give one of completed, failed, cancelled, archived\n'],
        [['--prune', '--older-than', '30d', '--name', 'Hello'], 'taskq: --name goes with --list or --stats (--prune takes --older-than and --status)\n'],
        [['--prune', '--list', '--older-than', '30d'], 'taskq: task-log takes exactly one of --stats, --list, --get, --archive, --cancel, --rerun, --prune (got --list, --prune)\n'],
      ];
      for (const [args, stderr] of cases) expect(await project.run(['task-log', ...args])).toEqual({ code: 2, stdout: '', stderr });
      expect(await ids()).toEqual(['old-failed']);
    });

    test('config prune: worker processes prune on the cron ticks, each tick once, whatever the number of workers', async () => {
      const old = Array.from({ length: 30 }, (_, i) => ({ id: `old-${i}`, status: i % 2 ? TaskStatus.Failed : TaskStatus.Cancelled, daysAgo: 40 }));
      await addEntries([...old, { id: 'recent-failed', status: TaskStatus.Failed, daysAgo: 1 }]);
      // Every second, so the test sees ticks soon.
      project.writeConfig({ ...config, prune: { olderThan: '30d', cron: '* * * * * *' } });
      const workers = [0, 1].map(() => project.spawn(['run-worker', '--log-level=silent']));
      const done = workers.map(collect);
      // Stopped at once, a worker leaves a tick enqueued in its last moments unrun (a worker
      // started later runs it): only those may be pending.
      let stoppedAt = 0;
      try {
        await until(async () => {
          const now = await stats();
          return now.failed + now.cancelled === 1;
        }, 60_000, 'the old entries to be pruned');
      } finally {
        stoppedAt = Date.now();
        for (const worker of workers) worker.kill('SIGTERM');
      }
      for (const result of await Promise.all(done)) expect(result.code).toBe(0);
      expect(await ids()).toEqual(['recent-failed']);
      const ticks = await project.json<TaskLogEntry[]>(['task-log', '--list', '--name', 'taskq:prune', '--limit', '100']);
      expect(ticks.filter((tick) => tick.status === 'completed').length).toBeGreaterThan(0);
      for (const tick of ticks) {
        expect(tick.id).toMatch(/^cron:taskq-prune@\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
        if (tick.status !== 'completed') {
          expect(tick).toMatchObject({ status: expect.stringMatching(/^(enqueued|dequeued)$/), attempts: 0, report: null });
          expect(Date.parse(tick.id.slice(tick.id.indexOf('@') + 1))).toBeGreaterThan(stoppedAt - 2_000);
          continue;
        }
        expect(tick).toMatchObject({ status: 'completed', attempts: 1, report: { type: 'success', message: expect.stringMatching(/^Pruned \d+ task-log entries that ended before /) } });
      }
      // Each old entry deleted by one tick's run: the runs' counts add up to them.
      const pruned = ticks.reduce((sum, tick) => sum + ((tick.report?.data as { pruned: number }).pruned ?? 0), 0);
      expect(pruned).toBe(old.length);
    });

    test('a bad prune config is one error naming the field (exit 2)', async () => {
      const cases: Array<[object, RegExp]> = [
        [{ olderThan: '30x' }, /^taskq: .*taskq\.config\.json: prune\.olderThan: "30x" is not a duration: give a whole number above 0 and a unit/],
        [{ olderThan: '30d', cron: 'every night' }, /^taskq: .*taskq\.config\.json: prune\.cron: schedule "taskq-prune": invalid cron expression "every night"/],
        [{ olderThan: '30d', statuses: ['running'] }, /^taskq: .*taskq\.config\.json: prune\.statuses\[0\]: /],
        [{ olderThan: '30d', every: 'day' }, /^taskq: .*taskq\.config\.json: prune: .*\(prune\.every\)/],
      ];
      for (const [prune, stderr] of cases) {
        project.writeConfig({ ...config, prune });
        const result = await project.run(['queues']);
        expect(result.code).toBe(2);
        expect(result.stderr).toMatch(stderr);
        expect(result.stderr.trimEnd().split('\n')).toHaveLength(1);
      }
    });
  });
}

pruneOn('SQLite', (dir) => `sqlite:${join(dir, 'taskq.db')}`);
const pgUrl = usePostgresDatabase('cli task-log prune');
if (pgUrl) pruneOn('PostgreSQL', () => pgUrl);
