/**
 * buildServer's security: a non-loopback host needs a token, every request then needs
 * `Authorization: Bearer`, and a token with an owner sees and acts on that owner's tasks only.
 */
import { ConfigError } from '../../src';
import { buildServer, isLoopbackHost } from '../../server';
import { type ApiClient, type ApiFixture, apiSetups } from './apiSetup';

jest.setTimeout(60_000);

test('isLoopbackHost: 127.0.0.0/8, ::1 and localhost only', () => {
  expect(['127.0.0.1', '127.1.2.3', '::1', 'localhost'].filter(isLoopbackHost)).toHaveLength(4);
  expect(['0.0.0.0', '::', '10.0.0.1', '192.168.1.2', 'example.com', '127.0.0.1.example.com'].filter(isLoopbackHost)).toEqual([]);
});

describe.each(apiSetups('API auth'))('auth on %s', (_name, setup) => {
  let fx: ApiFixture;
  let admin: ApiClient;
  const ADMIN = 'admin-secret-token';
  const ALICE = 'alice-secret-token';
  const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

  beforeAll(async () => {
    fx = await setup();
    const tokens = [{ token: ADMIN }, { token: ALICE, owner: 'alice' }];
    admin = await fx.server({ host: '0.0.0.0', tokens });
  });
  afterAll(() => fx?.close());

  test('starting on 0.0.0.0 without a token is refused with a ConfigError', async () => {
    await expect(buildServer(fx.dispatcher, { host: '0.0.0.0' })).rejects.toThrow(ConfigError);
    await expect(buildServer(fx.dispatcher, { host: '::', tokens: [] })).rejects.toThrow(/without a token/);
    // A token no request could send as `Bearer <token>` is refused at start, not on every request.
    await expect(buildServer(fx.dispatcher, { host: '0.0.0.0', tokens: [{ token: 'open sesame' }] })).rejects.toThrow('API token 1 contains whitespace');
  });

  test.each(['/api/tasks', '/api/stats', '/api/stats/throughput', `/api/tasks/x`, '/api/registered-tasks', '/api/workers', '/openapi.json', '/no/such/route'])('GET %s: 401 without a token, with a wrong one, or another scheme', async (url) => {
    for (const headers of [{}, bearer('wrong-token'), bearer(`${ADMIN}x`), bearer(ADMIN.slice(0, -1)), { authorization: `Basic ${ADMIN}` }, { authorization: ADMIN }]) {
      const res = await admin.inject({ url, headers });
      expect({ headers, status: res.statusCode }).toEqual({ headers, status: 401 });
      expect((res.json() as { field: string }).field).toBe('authorization');
    }
  });

  test('POST routes need the token too: nothing is enqueued or cancelled without it', async () => {
    const before = await fx.dispatcher.taskLog.count();
    expect((await admin.inject({ method: 'POST', url: '/api/tasks', payload: { name: 'Greet', params: { name: 'x' } } })).statusCode).toBe(401);
    expect((await admin.inject({ method: 'POST', url: `/api/tasks/${fx.ids.pendingCarl}/cancel`, payload: {} })).statusCode).toBe(401);
    expect(await fx.dispatcher.taskLog.count()).toBe(before);
    expect((await fx.dispatcher.taskLog.get(fx.ids.pendingCarl))?.status).toBe('enqueued');
  });

  test('the health check needs no token, and says nothing about the tasks', async () => {
    const res = await admin.inject({ url: '/api/health' });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ status: 'ok' });
  });

  test('a token without owner sees every task', async () => {
    const res = await admin.inject({ url: '/api/tasks?archived=true', headers: bearer(ADMIN) });
    expect(res.statusCode).toBe(200);
    expect((res.json() as { total: number }).total).toBe(9);
    expect((await admin.inject({ url: '/openapi.json', headers: bearer(ADMIN) })).statusCode).toBe(200);
  });

  describe('a token with an owner', () => {
    const alice = () => bearer(ALICE);

    test('lists, counts and reads only its owner\'s tasks, whatever the filter says', async () => {
      const list = await admin.inject({ url: '/api/tasks', headers: alice() });
      expect((list.json() as { tasks: { id: string }[] }).tasks.map((t) => t.id).sort()).toEqual([fx.ids.greetBob, fx.ids.pendingCarl].sort());
      const other = await admin.inject({ url: '/api/tasks?owner=bob', headers: alice() });
      expect((other.json() as { total: number }).total).toBe(0);
      const stats = await admin.inject({ url: '/api/stats', headers: alice() });
      expect((stats.json() as { total: number }).total).toBe(2);
      // Of the completed tasks, only greet bob is alice's; asking for another owner's adds a condition, it does not widen.
      const completed = async (url: string) => ((await admin.inject({ url, headers: alice() })).json() as { intervals: { completed: number }[] }).intervals.reduce((n, i) => n + i.completed, 0);
      expect(await completed('/api/stats/throughput')).toBe(1);
      expect(await completed('/api/stats/throughput?owner=bob')).toBe(0);
      expect((await admin.inject({ url: `/api/tasks/${fx.ids.greetBob}`, headers: alice() })).statusCode).toBe(200);
      expect((await admin.inject({ url: `/api/tasks/${fx.ids.greetAnn}`, headers: alice() })).statusCode).toBe(404);
    });

    test('cannot cancel, archive or rerun another owner\'s task (404), can its own', async () => {
      for (const action of ['cancel', 'archive', 'rerun']) {
        const res = await admin.inject({ method: 'POST', url: `/api/tasks/${action === 'rerun' ? fx.ids.boom : fx.ids.percent}/${action}`, payload: {}, headers: alice() });
        expect({ action, status: res.statusCode }).toEqual({ action, status: 404 });
      }
      expect((await fx.dispatcher.taskLog.get(fx.ids.percent))?.status).toBe('enqueued');
      expect((await fx.dispatcher.taskLog.get(fx.ids.boom))?.status).toBe('failed');
      const own = await admin.inject({ method: 'POST', url: `/api/tasks/${fx.ids.pendingCarl}/cancel`, payload: {}, headers: alice() });
      expect(own.statusCode).toBe(200);
      expect((own.json() as { status: string }).status).toBe('cancelled');
    });

    test('enqueues tasks of its owner; another owner in the body is a 403', async () => {
      const res = await admin.inject({ method: 'POST', url: '/api/tasks', payload: { name: 'Greet', params: { name: 'al' }, delay: 3_600_000 }, headers: alice() });
      expect(res.statusCode).toBe(201);
      expect((await fx.dispatcher.taskLog.get((res.json() as { id: string }).id))?.owner).toBe('alice');
      const other = await admin.inject({ method: 'POST', url: '/api/tasks', payload: { name: 'Greet', params: { name: 'al' }, owner: 'bob' }, headers: alice() });
      expect(other.statusCode).toBe(403);
      expect((other.json() as { field: string }).field).toBe('owner');
    });

    test('names only its owner\'s tasks in after: another owner\'s is refused as an unknown one is, and nothing is enqueued', async () => {
      const enqueueAfter = (after: string[]) => admin.inject({ method: 'POST', url: '/api/tasks', payload: { name: 'Greet', params: { name: 'al' }, after }, headers: alice() });
      const before = await fx.dispatcher.taskLog.count();
      const unknown = await enqueueAfter(['no-such-task']);
      const others = await enqueueAfter([fx.ids.greetAnn]);
      const mixed = await enqueueAfter([fx.ids.greetBob, fx.ids.greetAnn]);
      for (const res of [unknown, others, mixed]) {
        expect(res.statusCode).toBe(400);
        expect(res.json()).toMatchObject({ field: 'after' });
      }
      expect((others.json() as { error: string }).error).toBe((unknown.json() as { error: string }).error.replace('no-such-task', fx.ids.greetAnn));
      expect((mixed.json() as { error: string }).error).toMatch(new RegExp(`not in the task log: ${fx.ids.greetAnn}$`));
      expect(await fx.dispatcher.taskLog.count()).toBe(before);
      // Its own (ended) task is a prerequisite it may name.
      const own = await enqueueAfter([fx.ids.greetBob]);
      expect(own.statusCode).toBe(201);
      // The admin token names any task.
      const byAdmin = await admin.inject({ method: 'POST', url: '/api/tasks', payload: { name: 'Greet', params: { name: 'ad' }, after: [fx.ids.greetAnn] }, headers: bearer(ADMIN) });
      expect(byAdmin.statusCode).toBe(201);
    });

    test('has unique keys of its own: another owner\'s pending task of the same key neither answers nor blocks it', async () => {
      const enqueue = (headers: Record<string, string>, uniqueKey: string) =>
        admin.inject({ method: 'POST', url: '/api/tasks', payload: { name: 'Greet', params: { name: 'k' }, delay: 3_600_000, uniqueKey }, headers });
      const idOf = (res: { json(): unknown }) => (res.json() as { id: string }).id;
      const byAdmin = await enqueue(bearer(ADMIN), 'report-42');
      expect(byAdmin.statusCode).toBe(201);
      const first = await enqueue(alice(), 'report-42');
      expect(first.statusCode).toBe(201);
      expect(idOf(first)).not.toBe(idOf(byAdmin));
      expect((await fx.dispatcher.taskLog.get(idOf(first)))?.owner).toBe('alice');
      // Within the owner the key deduplicates as usual; the admin's key is still its own.
      expect(idOf(await enqueue(alice(), 'report-42'))).toBe(idOf(first));
      expect(idOf(await enqueue(bearer(ADMIN), 'report-42'))).toBe(idOf(byAdmin));
      const long = await enqueue(alice(), 'k'.repeat(239));
      expect(long.statusCode).toBe(400);
      expect(long.json()).toMatchObject({ field: 'uniqueKey' });
      expect((await enqueue(alice(), 'k'.repeat(238))).statusCode).toBe(201);
    });
  });
});
