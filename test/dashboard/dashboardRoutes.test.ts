/**
 * GET / and GET /dashboard/<file>: only the whitelisted files, with headers that keep the page
 * from running anything but its own scripts, and no token needed for them (the API still needs it).
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { InMemoryQueueBroker, InMemoryTaskLogBroker, Queue, QueueDispatcher, TaskLog, silentLogger } from '../../src';
import { buildServer, serverUrl } from '../../server';
import { dashboardFolder } from '../../server/routes/dashboard';

const dispatcher = new QueueDispatcher({ queues: [new Queue('standard', new InMemoryQueueBroker({ sync: false }))], taskLog: new TaskLog(new InMemoryTaskLogBroker()), logger: silentLogger });
let app: FastifyInstance;
let url: string;

beforeAll(async () => {
  await dispatcher.initialize();
  app = await buildServer(dispatcher, { tokens: [{ token: 'sesame-42' }] });
  await app.listen({ host: '127.0.0.1', port: 0 });
  url = serverUrl(app);
});
afterAll(async () => {
  await app?.close();
  await dispatcher.close();
});

const assetsDir = resolve(__dirname, '../../server/dashboard');

test('/ is the page, without a token, with a strict content security policy', async () => {
  const res = await fetch(`${url}/`);
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toBe('text/html; charset=utf-8');
  expect(res.headers.get('content-security-policy')).toMatch(/default-src 'none'; script-src 'self'/);
  expect(res.headers.get('x-content-type-options')).toBe('nosniff');
  expect(await res.text()).toBe(readFileSync(resolve(assetsDir, 'index.html'), 'utf8'));
});

test('every module the page loads is served, as JavaScript', async () => {
  const modules = ['dashboard.js', 'api.js', 'dom.js', 'format.js', 'login.js', 'overview.js', 'chart.js', 'queueTable.js', 'tasks.js', 'taskDetail.js', 'addTask.js', 'queues.js'];
  for (const name of modules) {
    const res = await fetch(`${url}/dashboard/${name}`);
    expect([name, res.status, res.headers.get('content-type')]).toEqual([name, 200, 'text/javascript; charset=utf-8']);
    // Each import of a module names a file that is served too.
    for (const [, imported] of (await res.text()).matchAll(/from '\.\/([\w.]+)'/g)) expect(modules).toContain(imported);
  }
  expect((await fetch(`${url}/dashboard/dashboard.css`)).headers.get('content-type')).toBe('text/css; charset=utf-8');
  // The page asks for every module at once (modulepreload), not one import level after another.
  const page = await (await fetch(`${url}/`)).text();
  const preloaded = [...page.matchAll(/<link rel="modulepreload" href="\/dashboard\/([\w.]+)">/g)].map(([, name]) => name);
  expect(['dashboard.js', ...preloaded].sort()).toEqual([...modules].sort());
});

test('a path outside the whitelist is a 404, never a file read', async () => {
  for (const path of ['/dashboard/nope.js', '/dashboard/..%2F..%2Fpackage.json', '/dashboard/%2e%2e%2fapp.ts', '/dashboard/index.html%00.js', '/dashboard/']) {
    const res = await fetch(`${url}${path}`);
    expect([path, res.status]).toEqual([path, 404]);
    expect(await res.text()).not.toMatch(/"name": "taskq"|buildServer/);
  }
});

test('the API behind the page still needs the token', async () => {
  expect((await fetch(`${url}/api/stats`)).status).toBe(401);
  expect((await fetch(`${url}/api/stats`, { headers: { authorization: 'Bearer sesame-42' } })).status).toBe(200);
});

test('the assets are found from the source folder and from the built package (dist/server/routes)', () => {
  expect(dashboardFolder()).toBe(assetsDir);
  // What dashboardFolder resolves from dist/server/routes/dashboard.js.
  expect(resolve(__dirname, '../../dist/server/routes', '../../../server/dashboard')).toBe(assetsDir);
});
