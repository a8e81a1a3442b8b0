/**
 * GET /api/registered-tasks, /api/workers and /api/health of buildServer, on SQLite and
 * PostgreSQL.
 */
import { Worker, silentLogger } from '../../src';
import { type ApiClient, type ApiFixture, apiSetups } from './apiSetup';

jest.setTimeout(60_000);

describe.each(apiSetups('API registry'))('registry, workers and health on %s', (_name, setup) => {
  let fx: ApiFixture;
  let client: ApiClient;

  beforeAll(async () => {
    fx = await setup();
    client = await fx.server();
  });
  afterAll(() => fx?.close());

  test('GET /api/registered-tasks: names, queues and params schemas', async () => {
    const res = await client.inject({ url: '/api/registered-tasks' });
    expect(res.statusCode).toBe(200);
    const tasks = res.json() as { name: string; kind: string; queue: string | null; paramsSchema: Record<string, unknown> | null; from: string }[];
    expect(tasks.map((t) => t.name)).toEqual(['Boom', 'Greet', 'Parent']);
    const byName = Object.fromEntries(tasks.map((t) => [t.name, t]));
    expect(byName.Boom).toMatchObject({ kind: 'task', queue: 'priority', paramsSchema: null, from: 'code' });
    expect(byName.Greet.queue).toBe('standard');
    expect(byName.Greet.paramsSchema).toMatchObject({ type: 'object', properties: { name: { type: 'string', minLength: 1 } }, required: ['name'] });
  });

  test('GET /api/workers: a running worker, alive, with its queues', async () => {
    const worker = new Worker(fx.dispatcher, { logger: silentLogger, idleMaxMs: 20 });
    const running = worker.run();
    try {
      let workers: { id: string; alive: boolean; queues: string[] }[] = [];
      for (let i = 0; i < 100 && !workers.some((w) => w.id === worker.id); i++) {
        const res = await client.inject({ url: '/api/workers' });
        expect(res.statusCode).toBe(200);
        workers = res.json() as typeof workers;
        if (!workers.some((w) => w.id === worker.id)) await new Promise((r) => setTimeout(r, 50));
      }
      expect(workers.find((w) => w.id === worker.id)).toMatchObject({ alive: true, queues: expect.arrayContaining(['standard', 'priority']) });
    } finally {
      await worker.stop();
      await running;
    }
  });

  test('GET /api/health: ok while the task log answers', async () => {
    const res = await client.inject({ url: '/api/health' });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ status: 'ok' });
  });
});
