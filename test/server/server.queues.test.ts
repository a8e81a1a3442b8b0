/**
 * GET /api/queues, POST /api/queues/:name/purge and GET /metrics of buildServer, on SQLite and
 * PostgreSQL; all three refused to a token with an owner.
 */
import { type ApiClient, type ApiFixture, apiSetups } from './apiSetup';

jest.setTimeout(60_000);

interface MetricFamily {
  name: string;
  metrics: { value: string; labels?: Record<string, string> }[];
}
// The package has no types of its own.
const parsePrometheusTextFormat = require('parse-prometheus-text-format') as (text: string) => MetricFamily[];

interface Depth {
  queue: string;
  broker: string;
  messages: number;
  waiting: number;
  running: number;
  oldestWaitingAt: string | null;
  tasks: { taskName: string; waiting: number; running: number; oldestWaitingAt: string | null }[];
}

describe.each(apiSetups('API queues'))('queues and metrics on %s', (_name, setup) => {
  let fx: ApiFixture;
  let client: ApiClient;
  const TOKEN = 'operator-token';
  const ALICE = 'alice-token';
  const auth = (token = TOKEN) => ({ authorization: `Bearer ${token}` });

  beforeAll(async () => {
    fx = await setup();
    client = await fx.server({ tokens: [{ token: TOKEN }, { token: ALICE, owner: 'alice' }] });
  });
  afterAll(() => fx?.close());

  test('GET /api/queues: depths per queue and per task name', async () => {
    const res = await client.inject({ url: '/api/queues', headers: auth() });
    expect(res.statusCode).toBe(200);
    const depths = res.json() as Depth[];
    expect(depths.map((d) => d.queue)).toEqual(['standard', 'priority']);
    const standard = depths[0];
    // The three delayed Greets wait on the standard queue; everything else has run.
    expect(standard).toMatchObject({ broker: 'rds', waiting: 3, running: 0, tasks: [{ taskName: 'Greet', waiting: 3, running: 0 }] });
    expect(standard.messages).toBe(3);
    expect(Date.parse(standard.oldestWaitingAt ?? '')).not.toBeNaN();
    expect(depths[1]).toMatchObject({ waiting: 0, running: 0, oldestWaitingAt: null });
  });

  test('queues, purge and metrics are refused (403) to a token with an owner', async () => {
    for (const [method, url] of [['GET', '/api/queues'], ['POST', '/api/queues/standard/purge'], ['GET', '/metrics'], ['GET', '/api/workers']]) {
      const res = await client.inject({ method, url, headers: auth(ALICE), ...(method === 'POST' ? { payload: {} } : {}) });
      expect({ url, status: res.statusCode }).toEqual({ url, status: 403 });
    }
    expect((await fx.dispatcher.taskLog.get(fx.ids.pendingCarl))?.status).toBe('enqueued');
  });

  test('GET /metrics: Prometheus text with the task log\'s gauges', async () => {
    expect((await client.inject({ url: '/metrics' })).statusCode).toBe(401);
    const res = await client.inject({ url: '/metrics', headers: auth() });
    expect(res.statusCode).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
    const families = parsePrometheusTextFormat(res.body);
    const tasks = families.find((f) => f.name === 'taskq_tasks');
    expect(tasks).toBeDefined();
    const failed = tasks?.metrics.find((m) => m.labels?.status === 'failed' && m.labels?.queue === 'priority');
    expect(Number(failed?.value)).toBe(1);
  });

  test('POST /api/queues/:name/purge: one task name, then the whole queue; 404 for an unknown queue', async () => {
    expect((await client.inject({ method: 'POST', url: '/api/queues/nope/purge', payload: {}, headers: auth() })).statusCode).toBe(404);
    const none = await client.inject({ method: 'POST', url: '/api/queues/standard/purge', payload: { taskName: 'Boom' }, headers: auth() });
    expect(none.statusCode).toBe(200);
    expect(none.json()).toEqual({ cancelled: 0, messagesRemoved: 0 });
    const bad = await client.inject({ method: 'POST', url: '/api/queues/standard/purge', payload: { taskName: 5 }, headers: auth() });
    expect(bad.statusCode).toBe(400);
    expect((bad.json() as { field: string }).field).toBe('taskName');
    const res = await client.inject({ method: 'POST', url: '/api/queues/standard/purge', headers: auth() });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ cancelled: 3, messagesRemoved: 3 });
    expect((await fx.dispatcher.taskLog.get(fx.ids.pendingCarl))?.status).toBe('cancelled');
    const after = (await client.inject({ url: '/api/queues', headers: auth() })).json() as Depth[];
    expect(after[0]).toMatchObject({ waiting: 0, messages: 0 });
  });
});
