import { CliProject } from '../helpers/cliProject';
import { until } from '../helpers/wait';
import { existsSync, readFileSync } from 'node:fs';

jest.setTimeout(60_000);

const queues = [
  { name: 'standard', broker: { type: 'rds', connection: 'sqlite:./taskq.db' } },
  { name: 'priority', broker: { type: 'rds', connection: 'sqlite:./taskq.db' } },
];
const config = (schedules: unknown[]) => ({ queues, taskLog: { type: 'rds', connection: 'sqlite:./taskq.db' }, tasks: ['./tasks.js'], associations: { shout: 'priority' }, schedules });

const SCHEDULES = [
  { name: 'nightly', cron: '0 3 * * *', task: 'Hello', params: { name: 'night' }, timezone: 'Europe/Paris' },
  { name: 'shouting', cron: '@hourly', task: 'shout', params: 'hey', catchUp: true },
];

describe('taskq schedules', () => {
  let project: CliProject;
  beforeAll(async () => {
    project = await CliProject.initialized(config(SCHEDULES));
  });
  afterAll(() => project.remove());

  test('lists each schedule: cron, time zone, task, queue, next run, last tick', async () => {
    const result = await project.run(['schedules']);
    expect(result).toMatchObject({ code: 0, stderr: '' });
    const [header, nightly, shouting] = result.stdout.trimEnd().split('\n');
    expect(header.split(/\s{2,}/)).toEqual(['NAME', 'CRON', 'TIMEZONE', 'TASK', 'QUEUE', 'NEXT RUN', 'LAST TICK']);
    expect(nightly).toMatch(/^nightly\s+0 3 \* \* \*\s+Europe\/Paris\s+Hello\s+standard\s+\d{4}-\d\d-\d\dT0[12]:00:00Z\s+-$/);
    expect(shouting).toMatch(/^shouting\s+@hourly\s+UTC\s+shout\s+priority\s+\d{4}-\d\d-\d\dT\d\d:00:00Z\s+-$/);
  });

  test('--json, with --next N runs', async () => {
    const [nightly] = await project.json<Array<Record<string, unknown>>>(['schedules', '--next', '3']);
    expect(nightly).toMatchObject({ name: 'nightly', cron: '0 3 * * *', timezone: 'Europe/Paris', task: 'Hello', queue: 'standard', catchUp: false, lastTick: null });
    const nextRuns = nightly.nextRuns as string[];
    expect(nextRuns).toHaveLength(3);
    expect(nightly.nextRun).toBe(nextRuns[0]);
    expect(Date.parse(nextRuns[1]) - Date.parse(nextRuns[0])).toBeGreaterThanOrEqual(23 * 3_600_000);
  });

  test('lists the schedule of the config\'s prune (the built-in taskq:prune task) after its own', async () => {
    const pruning = await CliProject.initialized({ ...config(SCHEDULES), prune: { olderThan: '30d' } });
    try {
      const infos = await pruning.json<Array<Record<string, unknown>>>(['schedules']);
      expect(infos.map((i) => i.name)).toEqual(['nightly', 'shouting', 'taskq-prune']);
      expect(infos[2]).toMatchObject({ cron: '17 3 * * *', timezone: 'UTC', task: 'taskq:prune', lastTick: null });
    } finally {
      pruning.remove();
    }
  });

  test('bad flags: exit 2 with the reason', async () => {
    for (const args of [['schedules', '--next', '0'], ['schedules', '--next', 'x'], ['schedules', '--bogus']]) {
      const result = await project.run(args);
      expect(result.code).toBe(2);
      expect(result.stderr).toMatch(/--next must be a whole number >= 1|unknown option '--bogus'/);
    }
  });
});

describe('schedules in the config', () => {
  test('a bad cron expression, time zone or task: exit 2 naming the schedule and the field', async () => {
    const cases: Array<[unknown, RegExp]> = [
      [{ name: 'n', cron: '0 25 * * *', task: 'Hello' }, /taskq\.config\.json: schedules\[0\]\.cron: schedule "n": invalid cron expression "0 25 \* \* \*": Invalid value for hour: 25\n$/],
      [{ name: 'n', cron: '0 3 * * *', task: 'Hello', timezone: 'Paris' }, /taskq\.config\.json: schedules\[0\]\.timezone: schedule "n": unknown time zone "Paris"/],
      [{ name: 'n', cron: '0 3 * * *', task: 'Hullo' }, /taskq\.config\.json: schedules\[0\]\.task: schedule "n": no registered task or callback is named "Hullo" \(registered: /],
    ];
    for (const [schedule, message] of cases) {
      const project = new CliProject(config([schedule]));
      try {
        for (const command of [['schedules'], ['run-worker', '--limit=1']]) {
          const result = await project.run(command);
          expect({ code: result.code, stderr: result.stderr }).toEqual({ code: 2, stderr: expect.stringMatching(message) });
        }
      } finally {
        project.remove();
      }
    }
  });

  test('run-worker enqueues the ticks; taskq schedules shows the latest with its status', async () => {
    const project = await CliProject.initialized(config([{ name: 'every-second', cron: '* * * * * *', task: 'Hello', params: { name: 'tick' } }]));
    try {
      const worker = project.spawn(['run-worker', '--log-level=warn']);
      await until(() => existsSync(project.runsFile) && readFileSync(project.runsFile, 'utf8').split('\n').filter(Boolean).length >= 2, 20_000, 'two ticks');
      worker.kill('SIGTERM');
      await new Promise((resolve) => worker.on('close', resolve));
      const [info] = await project.json<Array<{ lastTick: { at: string; taskId: string; status: string } }>>(['schedules']);
      expect(info.lastTick.status).toBe('completed');
      expect(info.lastTick.taskId).toBe(`cron:every-second@${info.lastTick.at}`);
      const ran = readFileSync(project.runsFile, 'utf8').split('\n').filter(Boolean);
      expect(ran).toContain(info.lastTick.taskId);
      expect(new Set(ran).size).toBe(ran.length);
    } finally {
      project.remove();
    }
  });

  test('run-worker --no-schedules runs tasks but enqueues no tick', async () => {
    const project = await CliProject.initialized(config([{ name: 'every-second', cron: '* * * * * *', task: 'Hello', params: { name: 'tick' } }]));
    try {
      const worker = project.spawn(['run-worker', '--no-schedules', '--log-level=warn']);
      const hello = await project.enqueue('Hello', { name: 'plain' });
      await until(() => existsSync(project.runsFile) && readFileSync(project.runsFile, 'utf8').includes(hello), 20_000, 'the plain task');
      // Past two ticks: none is enqueued by this worker.
      await new Promise((resolve) => setTimeout(resolve, 2_500));
      worker.kill('SIGTERM');
      await new Promise((resolve) => worker.on('close', resolve));
      expect(readFileSync(project.runsFile, 'utf8').split('\n').filter(Boolean)).toEqual([hello]);
      const [info] = await project.json<Array<{ lastTick: unknown }>>(['schedules']);
      expect(info.lastTick).toBeNull();
    } finally {
      project.remove();
    }
  });
});
