/**
 * The task routes of buildServer (GET /api/tasks, /api/tasks/:id, /api/stats; POST /api/tasks,
 * /cancel, /archive, /rerun) on SQLite and PostgreSQL, with tasks run by a real Worker.
 */
import { TaskStatus } from '../../src';
import { type ApiClient, type ApiFixture, apiSetups } from './apiSetup';

jest.setTimeout(60_000);

interface TaskBody {
  id: string;
  createdAt: string;
  status: string;
  label: string;
  owner: string | null;
  taskName: string;
  parentId: string | null;
  report: { message: string } | null;
  attempts: number;
}
interface ListBody {
  total: number;
  limit: number;
  offset: number;
  tasks: TaskBody[];
}

describe.each(apiSetups('API tasks'))('task routes on %s', (_name, setup) => {
  let fx: ApiFixture;
  let app: ApiClient;

  beforeAll(async () => {
    fx = await setup();
    app = await fx.server();
  });
  afterAll(() => fx?.close());

  const get = async <T>(url: string, status = 200): Promise<T> => {
    const res = await app.inject({ method: 'GET', url });
    expect({ url, status: res.statusCode, body: res.statusCode === status ? undefined : res.body }).toEqual({ url, status, body: undefined });
    return res.json() as T;
  };
  const list = async (query: string): Promise<ListBody> => get<ListBody>(`/api/tasks?${query}`);
  const idsOf = (body: ListBody) => body.tasks.map((t) => t.id).sort();

  describe('GET /api/tasks', () => {
    test('lists every task, newest first, with the total', async () => {
      const body = await list('');
      expect(body.total).toBe(9);
      expect(body.tasks).toHaveLength(9);
      // Newest first, ties (tasks created in the same millisecond) by id, descending: the last
      // enqueued, or one of its millisecond, leads.
      const order = body.tasks.map((t) => [Date.parse(t.createdAt), t.id] as const);
      const sorted = [...order].sort((a, b) => b[0] - a[0] || (a[1] < b[1] ? 1 : a[1] > b[1] ? -1 : 0));
      expect(order).toEqual(sorted);
      const newest = body.tasks.filter((t) => Date.parse(t.createdAt) === order[0][0]).map((t) => t.id);
      expect(newest).toContain(fx.ids.underscore);
      expect(body).toMatchObject({ limit: 50, offset: 0 });
    });

    test('equality shortcuts: status and taskName', async () => {
      expect(idsOf(await list('status=failed'))).toEqual([fx.ids.boom]);
      expect((await list('taskName=Greet&status=completed')).total).toBe(4);
    });

    test('every operator of filter=column:operator:value', async () => {
      const { ids } = fx;
      expect(idsOf(await list('filter=status:eq:failed'))).toEqual([ids.boom]);
      expect((await list('filter=taskName:neq:Greet')).total).toBe(2);
      expect(idsOf(await list('filter=label:like:greet%25'))).toEqual([ids.greetAnn, ids.greetBob].sort());
      expect(idsOf(await list('filter=status:in:failed,enqueued&filter=label:notIn:pending carl,100%25,a_b'))).toEqual([ids.boom]);
      expect((await list('filter=status:notIn:completed,failed')).total).toBe(3);
      expect((await list('filter=attempts:gte:1')).total).toBe(6);
      expect((await list('filter=attempts:gt:0')).total).toBe(6);
      expect((await list('filter=attempts:lt:1')).total).toBe(3);
      expect((await list('filter=attempts:lte:0')).total).toBe(3);
      expect(idsOf(await list('filter=parentId:notNull'))).toHaveLength(2);
      expect((await list('filter=startedAt:isNull')).total).toBe(3);
      const all = await list('sort=createdAt:asc');
      // The first enqueued leads, or another of its millisecond (ties go by id).
      const first = Date.parse(all.tasks[0].createdAt);
      expect(all.tasks.filter((t) => Date.parse(t.createdAt) === first).map((t) => t.id)).toContain(ids.greetAnn);
      const created = new Date((await get<{ task: { createdAt: string } }>(`/api/tasks/${ids.greetAnn}`)).task.createdAt);
      expect((await list(`filter=createdAt:gte:${encodeURIComponent(created.toISOString())}`)).total).toBe(9);
      expect((await list(`filter=createdAt:lt:${created.getTime()}`)).total).toBe(0);
    });

    test('owner filter and in on owner', async () => {
      expect(idsOf(await list('owner=alice'))).toEqual([fx.ids.greetBob, fx.ids.pendingCarl].sort());
    });

    test('sort, limit and offset page through without overlap', async () => {
      const first = await list('sort=label:asc&limit=4');
      const second = await list('sort=label:asc&limit=4&offset=4');
      const third = await list('sort=label:asc&limit=4&offset=8');
      expect(first.total).toBe(9);
      const labels = [...first.tasks, ...second.tasks, ...third.tasks].map((t) => t.label);
      expect(labels).toHaveLength(9);
      expect(new Set([...first.tasks, ...second.tasks, ...third.tasks].map((t) => t.id)).size).toBe(9);
      expect(labels.slice(0, 3)).toEqual(['', '', '100%']);
      const desc = await list('sort=label:desc&limit=1');
      expect(desc.tasks[0].label).toBe('pending carl');
    });

    test('archived tasks are left out unless asked for', async () => {
      const res = await app.inject({ method: 'POST', url: `/api/tasks/${fx.ids.greetAnn}/archive` });
      expect(res.statusCode).toBe(200);
      expect((await list('')).total).toBe(8);
      expect(idsOf(await list('status=archived'))).toEqual([fx.ids.greetAnn]);
      expect((await list('archived=true')).total).toBe(9);
    });

    test.each([
      ['filter=nope:eq:1', 'filter', /Unknown column "nope"/],
      ['filter=status:between:a', 'filter', /Unknown filter operator "between"/],
      ['filter=createdAt:gte:2024-02-30', 'filter', /not a valid time for createdAt/],
      ['filter=attempts:gt:many', 'filter', /integer column/],
      ['filter=label:eq', 'filter', /has no value/],
      ['filter=attempts:like:1%25', 'filter', /like applies to text columns only/],
      ['limit=1001', 'limit', /1000/],
      ['limit=0', 'limit', /.+/],
      ['offset=-1', 'offset', /.+/],
      ['sort=parameters:asc', 'sort', /Unknown column "parameters"/],
      ['sort=createdAt:up', 'sort', /column:asc or column:desc/],
      ['status=done', 'status', /Unknown status "done"/],
      ['colour=red', 'colour', /Unrecognized key/],
    ])('400 on %s, naming %s', async (query, field, message) => {
      const res = await app.inject({ method: 'GET', url: `/api/tasks?${query}` });
      expect(res.statusCode).toBe(400);
      const body = res.json() as { error: string; field: string; statusCode: number };
      expect(body.field).toBe(field);
      expect(body.error).toMatch(message);
      expect(body.statusCode).toBe(400);
      expect(res.body).not.toMatch(/at .*\.(ts|js):\d+/);
    });

    test('a value that looks like SQL is data: it matches nothing and the table is intact', async () => {
      const injection = encodeURIComponent("x' OR 1=1 --");
      expect((await list(`label=${injection}`)).total).toBe(0);
      expect((await list(`filter=label:like:${injection}`)).total).toBe(0);
      expect((await list(`filter=status:in:${injection},failed`)).total).toBe(1);
      expect((await list('archived=true')).total).toBe(9);
    });

    test('% and _ in like are wildcards of the pattern, and match themselves as data', async () => {
      // `100%` as a like pattern is "100 then anything": only the task labelled 100%.
      expect(idsOf(await list('filter=label:like:100%25'))).toEqual([fx.ids.percent]);
      // `a_b` matches a, any one character, b: the task labelled a_b (and no other label has 3 chars).
      expect(idsOf(await list('filter=label:like:a_b'))).toEqual([fx.ids.underscore]);
      expect(idsOf(await list('label=100%25'))).toEqual([fx.ids.percent]);
      expect((await list('label=100')).total).toBe(0);
    });
  });

  describe('GET /api/tasks/:id', () => {
    test('a completed parent with its children, report and timings', async () => {
      const body = await get<{ task: TaskBody & { stalls: number; progress: unknown }; timings: { queuedMs: number; runMs: number; startedAt: string }; children: TaskBody[]; childCount: number }>(`/api/tasks/${fx.ids.parent}`);
      expect(body.task).toMatchObject({ id: fx.ids.parent, taskName: 'Parent', status: TaskStatus.Completed, attempts: 1, stalls: 0 });
      expect(body.childCount).toBe(2);
      expect(body.children.map((c) => c.report?.message).sort()).toEqual(['hello kid 1', 'hello kid 2']);
      expect(body.children.every((c) => c.parentId === fx.ids.parent)).toBe(true);
      expect(body.timings.queuedMs).toBeGreaterThanOrEqual(0);
      expect(body.timings.runMs).toBeGreaterThanOrEqual(0);
    });

    test('a failed task with its report', async () => {
      const body = await get<{ task: TaskBody; timings: { runMs: number | null } }>(`/api/tasks/${fx.ids.boom}`);
      expect(body.task.status).toBe('failed');
      expect(body.task.report?.message).toMatch(/boom on purpose/);
    });

    test('a pending task has no run timings yet', async () => {
      const body = await get<{ timings: { queuedMs: number | null; runMs: number | null; startedAt: string | null } }>(`/api/tasks/${fx.ids.pendingCarl}`);
      expect(body.timings).toMatchObject({ queuedMs: null, runMs: null, startedAt: null });
    });

    test('404 for an unknown id', async () => {
      const body = await get<{ error: string; field: string }>('/api/tasks/no-such-task', 404);
      expect(body).toMatchObject({ field: 'id', error: expect.stringMatching(/no-such-task/) });
    });
  });

  describe('GET /api/stats', () => {
    test('every status with its count, filtered the same way', async () => {
      // Without greet ann, which a test above archives.
      const all = await get<Record<string, number>>(`/api/stats?filter=id:neq:${fx.ids.greetAnn}`);
      expect(all).toEqual({ total: 8, completed: 4, archived: 0, failed: 1, enqueued: 3, running: 0, child_running: 0, cancelled: 0, dequeued: 0 });
      const alice = await get<Record<string, number>>('/api/stats?owner=alice');
      expect(alice).toMatchObject({ total: 2, completed: 1, enqueued: 1 });
      const greet = await get<Record<string, number>>('/api/stats?filter=taskName:in:Greet,Boom');
      expect(greet.total).toBe(8);
      expect((await app.inject({ method: 'GET', url: '/api/stats?filter=x:eq:1' })).statusCode).toBe(400);
    });
  });

  describe('GET /api/stats/throughput', () => {
    interface ThroughputBody {
      since: string;
      intervalMs: number;
      intervals: { start: string; completed: number; failed: number }[];
    }
    const total = (body: ThroughputBody, key: 'completed' | 'failed') => body.intervals.reduce((n, i) => n + i[key], 0);

    test('the tasks that completed and failed per minute of the last hour, every minute present, filtered as /api/stats', async () => {
      const [hour, stats] = await Promise.all([get<ThroughputBody>('/api/stats/throughput'), get<Record<string, number>>('/api/stats')]);
      expect(hour.intervalMs).toBe(60_000);
      expect(hour.intervals.length === 61 || hour.intervals.length === 62).toBe(true);
      expect(hour.intervals[0].start).toBe(hour.since);
      expect(Date.parse(hour.intervals[1].start) - Date.parse(hour.intervals[0].start)).toBe(60_000);
      // Every task of the fixture finished within the hour.
      expect(total(hour, 'completed')).toBe(stats.completed);
      expect(total(hour, 'failed')).toBe(stats.failed);
      expect(stats.completed).toBeGreaterThan(0);

      const alice = await get<ThroughputBody>('/api/stats/throughput?owner=alice&minutes=10&interval=30');
      expect(alice.intervalMs).toBe(30_000);
      expect(total(alice, 'completed')).toBe((await get<Record<string, number>>('/api/stats?owner=alice')).completed);
      const none = await get<ThroughputBody>(`/api/stats/throughput?filter=${encodeURIComponent("label:eq:x' OR 1=1 --")}`);
      expect(total(none, 'completed') + total(none, 'failed')).toBe(0);
    });

    test.each([
      ['minutes=0', 'minutes'],
      ['minutes=abc', 'minutes'],
      ['interval=0', 'interval'],
      ['minutes=1440&interval=60', 'interval'],
      ['filter=x:eq:1', 'filter'],
      ['nope=1', ''],
    ])('400 on %s', async (query, field) => {
      const res = await app.inject({ method: 'GET', url: `/api/stats/throughput?${query}` });
      expect(res.statusCode).toBe(400);
      if (field) expect(res.json()).toMatchObject({ field });
    });
  });

  describe('POST /api/tasks', () => {
    test('enqueues a registered task by name: 201 with the id, in the log with its options', async () => {
      const res = await app.inject({ method: 'POST', url: '/api/tasks', payload: { name: 'Greet', params: { name: 'dora' }, label: 'from the API', delay: 3_600_000, owner: 'bob' } });
      expect(res.statusCode).toBe(201);
      const body = res.json() as { id: string; queue: string; status: string; taskName: string };
      expect(body).toMatchObject({ taskName: 'Greet', queue: 'standard', status: 'enqueued' });
      const entry = await fx.dispatcher.taskLog.get(body.id);
      expect(entry).toMatchObject({ label: 'from the API', owner: 'bob', parameters: { name: 'dora' }, queue: 'standard' });
      await fx.dispatcher.taskLog.cancel(body.id);
    });

    test('an explicit queue wins', async () => {
      const res = await app.inject({ method: 'POST', url: '/api/tasks', payload: { name: 'Greet', params: { name: 'eve' }, queue: 'priority', delay: 3_600_000 } });
      expect(res.statusCode).toBe(201);
      expect((res.json() as { queue: string }).queue).toBe('priority');
      await fx.dispatcher.taskLog.cancel((res.json() as { id: string }).id);
    });

    test('params refused by the schema: every problem with its field, the first one as field', async () => {
      const res = await app.inject({ method: 'POST', url: '/api/tasks', payload: { name: 'Greet', params: { name: '', times: 0.5 } } });
      expect(res.statusCode).toBe(400);
      const body = res.json() as { field: string; issues: { field: string; message: string }[] };
      expect(body.field).toBe('params.name');
      expect(body.issues.map((i) => i.field).sort()).toEqual(['params.name', 'params.times']);
      expect(body.issues.every((i) => i.message.length > 0)).toBe(true);
      const other = await app.inject({ method: 'POST', url: '/api/tasks', payload: { name: 'Greet', params: { name: 'x' }, delay: -5 } });
      expect(other.json()).not.toHaveProperty('issues');
    });

    test.each([
      [{ name: 'Greet', params: { name: '' } }, 400, 'params.name'],
      [{ name: 'Greet', params: {} }, 400, 'params.name'],
      [{ name: 'Greet', params: { name: 'x' }, delay: -5 }, 400, 'delay'],
      [{ name: 'Greet', params: { name: 'x' }, queue: 'nope' }, 400, 'queue'],
      [{ params: { name: 'x' } }, 400, 'name'],
      [{ name: 'Greet', params: 5 }, 400, 'params'],
      [{ name: 'Greet', params: { name: 'x' }, after: ['no-such-task'] }, 400, 'after'],
      [{ name: 'Greet', params: { name: 'x' }, runAt: 'tomorrow' }, 400, 'runAt'],
      [{ name: 'Greet', params: { name: 'x' }, colour: 'red' }, 400, 'colour'],
      [{ name: 'NoSuchTask', params: {} }, 404, 'name'],
    ])('%j → %i naming %s', async (payload, status, field) => {
      const res = await app.inject({ method: 'POST', url: '/api/tasks', payload });
      expect(res.statusCode).toBe(status);
      expect((res.json() as { field: string }).field).toBe(field);
    });

    test('a body that is not JSON is a 400, without a stack', async () => {
      const res = await app.inject({ method: 'POST', url: '/api/tasks', payload: '{"name": ', headers: { 'content-type': 'application/json' } });
      expect(res.statusCode).toBe(400);
      expect(res.body).not.toMatch(/node_modules|at .*:\d+:\d+/);
    });
  });

  describe('POST /api/tasks/:id/cancel, /archive, /rerun', () => {
    test('cancel a pending task; 409 once it has ended; 404 when missing', async () => {
      const res = await app.inject({ method: 'POST', url: `/api/tasks/${fx.ids.underscore}/cancel`, payload: {} });
      expect(res.statusCode).toBe(200);
      expect((res.json() as TaskBody).status).toBe('cancelled');
      const again = await app.inject({ method: 'POST', url: `/api/tasks/${fx.ids.underscore}/cancel` });
      expect(again.statusCode).toBe(409);
      expect((again.json() as { error: string }).error).toMatch(/already ended/);
      expect((await app.inject({ method: 'POST', url: '/api/tasks/nope/cancel' })).statusCode).toBe(404);
    });

    test('archive refuses a pending task without force (409), takes it with force', async () => {
      const refused = await app.inject({ method: 'POST', url: `/api/tasks/${fx.ids.percent}/archive`, payload: { force: false } });
      expect(refused.statusCode).toBe(409);
      const forced = await app.inject({ method: 'POST', url: `/api/tasks/${fx.ids.percent}/archive`, payload: { force: true } });
      expect(forced.statusCode).toBe(200);
      expect((forced.json() as TaskBody).status).toBe('archived');
      const bad = await app.inject({ method: 'POST', url: `/api/tasks/${fx.ids.percent}/archive`, payload: { force: 'yes' } });
      expect(bad.statusCode).toBe(400);
      expect((bad.json() as { field: string }).field).toBe('force');
    });

    test('rerun a failed task: it is enqueued again; 409 for a completed one; 404 when missing', async () => {
      const res = await app.inject({ method: 'POST', url: `/api/tasks/${fx.ids.boom}/rerun` });
      expect(res.statusCode).toBe(200);
      expect(res.json()).toMatchObject({ id: fx.ids.boom, taskName: 'Boom', queue: 'priority', status: 'enqueued' });
      const completed = await app.inject({ method: 'POST', url: `/api/tasks/${fx.ids.greetBob}/rerun` });
      expect(completed.statusCode).toBe(409);
      expect((completed.json() as { error: string }).error).toMatch(/only a failed or cancelled task/);
      expect((await app.inject({ method: 'POST', url: '/api/tasks/nope/rerun' })).statusCode).toBe(404);
    });
  });
});
