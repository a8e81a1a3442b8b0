/**
 * `taskq serve` as a real process (dist/bin/taskq.js; `npm run build` first): it prints the URL it
 * listens on, answers over HTTP, and exits 0 on SIGTERM; it refuses a non-loopback host without a
 * token (exit 2).
 */
import type { ChildProcess } from 'node:child_process';
import { CliProject, collect } from '../helpers/cliProject';

jest.setTimeout(60_000);

/** Resolves with the URL the server printed on stdout. */
function urlOf(child: ChildProcess): Promise<string> {
  return new Promise((resolve, reject) => {
    let out = '';
    let err = '';
    child.stderr?.on('data', (d: Buffer) => (err += d.toString()));
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
      const match = /listening on (http:\/\/\S+?) /.exec(out);
      if (match) resolve(match[1]);
    });
    child.on('close', (code) => reject(new Error(`taskq serve exited ${code} before listening: ${out}${err}`)));
  });
}

describe('taskq serve', () => {
  let project: CliProject;

  beforeAll(async () => {
    project = await CliProject.initialized();
  });
  afterAll(() => project?.remove());

  test('--port 0: prints its URL, serves the task log over HTTP, exits 0 on SIGTERM', async () => {
    const id = await project.enqueue('Hello', { name: 'http' });
    const child = project.spawn(['serve', '--port', '0']);
    const done = collect(child);
    try {
      const url = await urlOf(child);
      expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      expect(url).not.toMatch(/:0$/);
      const res = await fetch(`${url}/api/tasks?taskName=Hello`);
      expect(res.status).toBe(200);
      const body = (await res.json()) as { total: number; tasks: { id: string; status: string }[] };
      expect(body.tasks.map((t) => t.id)).toContain(id);
      const enqueued = await fetch(`${url}/api/tasks`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: 'Hello', params: { name: 'api' } }) });
      expect(enqueued.status).toBe(201);
      expect((await fetch(`${url}/openapi.json`)).status).toBe(200);
    } finally {
      child.kill('SIGTERM');
    }
    const result = await done;
    expect(result.code).toBe(0);
    expect(result.stderr).not.toMatch(/Error|at .*:\d+:\d+/);
  });

  test('--host 0.0.0.0 without a token: exit 2, saying why', async () => {
    const result = await project.run(['serve', '--host', '0.0.0.0', '--port', '0']);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/without a token/);
    expect(result.stdout).toBe('');
  });

  test('a bad --port is a usage error (exit 2)', async () => {
    const result = await project.run(['serve', '--port', '70000']);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/--port/);
  });

  test('api.tokens from the config: tokenEnv read from the environment; a missing variable is exit 2', async () => {
    const config = {
      queues: [{ name: 'standard', broker: { type: 'rds', connection: 'sqlite:./taskq.db' } }],
      taskLog: { type: 'rds', connection: 'sqlite:./taskq.db' },
      tasks: ['./tasks.js'],
      api: { host: '0.0.0.0', port: 0, tokens: [{ tokenEnv: 'TEST_API_TOKEN', owner: 'alice' }] },
    };
    project.writeConfig(config, 'api.config.json');
    const missing = await project.run(['--config', 'api.config.json', 'serve'], { TEST_API_TOKEN: '' });
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/api\.tokens\[0\]\.tokenEnv/);

    const child = project.spawn(['--config', 'api.config.json', 'serve'], { TEST_API_TOKEN: 'secret-from-env' });
    const done = collect(child);
    try {
      const url = (await urlOf(child)).replace('0.0.0.0', '127.0.0.1');
      expect((await fetch(`${url}/api/tasks`)).status).toBe(401);
      const res = await fetch(`${url}/api/tasks`, { headers: { authorization: 'Bearer secret-from-env' } });
      expect(res.status).toBe(200);
      // An owner's token: alice owns none of the tasks enqueued above.
      expect(((await res.json()) as { total: number }).total).toBe(0);
    } finally {
      child.kill('SIGTERM');
    }
    const result = await done;
    expect(result.code).toBe(0);
    expect(result.stdout + result.stderr).not.toContain('secret-from-env');
  });
});
