import { InMemoryTaskLogBroker, Report, TaskLog, TaskStatus } from '../../src';
import { decidePrerequisites, nextLookMs, type Prerequisites } from '../../src/prerequisites';

const entry = (id: string, status: TaskStatus, report: Report | null = null) => ({
  id,
  parentId: null,
  taskName: 'Step',
  label: '',
  owner: null,
  queue: 'standard',
  parameters: {},
  createdAt: new Date(),
  status,
  report: report?.toJSON() ?? null,
});

describe('decidePrerequisites', () => {
  let log: TaskLog;
  beforeEach(async () => {
    log = new TaskLog(new InMemoryTaskLogBroker());
    await log.add([
      entry('done', TaskStatus.Completed, Report.success('ok', 'result of done')),
      entry('done2', TaskStatus.Completed, Report.success('ok', 2)),
      entry('quiet', TaskStatus.Completed),
      entry('broken', TaskStatus.Failed, Report.error('disk full')),
      entry('waiting', TaskStatus.Enqueued),
      entry('running', TaskStatus.Running),
    ]);
  });
  const decide = (ids: string[], rest: Partial<Prerequisites> = {}, waitedMs = 0) => decidePrerequisites(log, { ids, onFailure: 'cancel', ...rest }, waitedMs);

  test('runs once every prerequisite completed: one result, or the results in order, null for none', async () => {
    await expect(decide(['done'])).resolves.toEqual({ kind: 'run', previousResult: 'result of done' });
    await expect(decide(['done2', 'quiet', 'done'])).resolves.toEqual({ kind: 'run', previousResult: [2, null, 'result of done'] });
  });

  test('an entry archived once completed counts as completed; archived unfinished as failed', async () => {
    await log.archive('done');
    await expect(decide(['done'])).resolves.toMatchObject({ kind: 'run', previousResult: 'result of done' });
    await log.archive('waiting', { force: true });
    await expect(decide(['waiting'])).resolves.toMatchObject({ kind: 'end', status: TaskStatus.Cancelled, report: { message: 'Not run: prerequisite waiting (Step) was archived while enqueued' } });
  });

  test('waits while any has not ended, looking again sooner at first', async () => {
    await expect(decide(['done', 'waiting', 'running'])).resolves.toEqual({ kind: 'wait', waitingFor: ['waiting', 'running'], retryMs: 50 });
    await expect(decide(['waiting'], {}, 10_000)).resolves.toMatchObject({ retryMs: 1_000 });
  });

  test('one failure ends the task at once, without waiting for the others, as onFailure says', async () => {
    await expect(decide(['waiting', 'broken'])).resolves.toEqual({ kind: 'end', status: TaskStatus.Cancelled, report: expect.objectContaining({ type: 'warning', message: 'Not run: prerequisite broken (Step) ended failed: disk full' }) });
    await expect(decide(['broken'], { onFailure: 'fail' })).resolves.toMatchObject({ kind: 'end', status: TaskStatus.Failed, report: { type: 'error' } });
    await expect(decide(['gone'])).resolves.toMatchObject({ kind: 'end', report: { message: 'Not run: prerequisite gone is not in the task log' } });
  });

  test("'run' waits for every prerequisite to end, then runs with null for the failed ones", async () => {
    await expect(decide(['broken', 'waiting'], { onFailure: 'run' })).resolves.toMatchObject({ kind: 'wait', waitingFor: ['waiting'] });
    await expect(decide(['broken', 'done'], { onFailure: 'run' })).resolves.toEqual({ kind: 'run', previousResult: [null, 'result of done'] });
  });

  test('onlyOnFailure runs when one did not complete, and is cancelled as not needed when all did', async () => {
    await expect(decide(['broken'], { onlyOnFailure: true })).resolves.toEqual({ kind: 'run', previousResult: null });
    await expect(decide(['done'], { onlyOnFailure: true })).resolves.toMatchObject({ kind: 'end', status: TaskStatus.Cancelled, report: { message: 'Not needed: done (Step) completed' } });
    await expect(decide(['waiting', 'broken'], { onlyOnFailure: true })).resolves.toMatchObject({ kind: 'wait' });
  });
});

describe('nextLookMs', () => {
  test('50 ms at first, a tenth of the time waited, at most 5 s', () => {
    expect([0, 400, 1_000, 20_000, 60_000, 3_600_000].map(nextLookMs)).toEqual([50, 50, 100, 2_000, 5_000, 5_000]);
  });
});
