import { InMemoryTaskLogBroker, TaskLogFilter, TaskStatus } from '../../src';

const entry = (i: number, status: TaskStatus) => ({
  id: `t${i}`,
  parentId: null,
  taskName: 'T',
  label: '',
  owner: null,
  queue: 'q',
  parameters: null,
  createdAt: new Date(1_000 + i),
  status,
});

test('forgets the oldest ended entries past maxEntries, never waiting or running ones', async () => {
  const log = new InMemoryTaskLogBroker({ maxEntries: 10 });
  await log.add([entry(0, TaskStatus.Enqueued), entry(1, TaskStatus.Enqueued)]);
  await log.claim('t1', 'w', 60_000);
  for (let i = 2; i < 30; i++) await log.add([entry(i, TaskStatus.Failed)]);
  const left = await log.search(new TaskLogFilter().sort('createdAt'));
  expect(left.length).toBeLessThanOrEqual(11);
  expect(left.map((e) => e.id).slice(0, 2)).toEqual(['t0', 't1']);
  expect(left[left.length - 1].id).toBe('t29');
  expect(await log.get('t2')).toBeNull();
});

test('rejects a maxEntries that is not a positive integer', () => {
  expect(() => new InMemoryTaskLogBroker({ maxEntries: 0 })).toThrow(/maxEntries must be an integer >= 1/);
});

test('with many tasks still waiting, adding stays cheap and ended ones are forgotten first', async () => {
  const log = new InMemoryTaskLogBroker({ maxEntries: 100 });
  for (let i = 0; i < 150; i++) await log.add([entry(i, TaskStatus.Enqueued)]);
  // Over the bound but nothing has ended: everything is kept.
  expect(await log.count(new TaskLogFilter())).toBe(150);
  await log.changeStatus('t3', { from: [TaskStatus.Enqueued], to: TaskStatus.Cancelled, finished: true });
  await log.add([entry(150, TaskStatus.Enqueued)]);
  expect(await log.get('t3')).toBeNull();
  expect(await log.count(new TaskLogFilter())).toBe(150);
});
