/**
 * GET /openapi.json: a valid OpenAPI 3 document (checked by @apidevtools/swagger-parser) that
 * describes every route the server has registered.
 */
import { spawnSync } from 'node:child_process';
import { resolve } from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { OpenAPIV3 } from 'openapi-types';
import { type ApiClient, type ApiFixture, apiSetups } from './apiSetup';

jest.setTimeout(60_000);

/** Every method and path fastify routes, from its route tree (`/api/tasks/:id` as `/api/tasks/{id}`). */
function routesOf(app: FastifyInstance): string[] {
  const routes: string[] = [];
  const stack: string[] = [];
  for (const line of app.printRoutes({ commonPrefix: false }).split('\n')) {
    const match = /^(.*?)(?:├── |└── )(\S+)(?: \(([^)]*)\))?$/.exec(line);
    if (!match) continue;
    const depth = match[1].length / 4;
    stack.length = depth;
    stack.push(match[2]);
    for (const method of match[3]?.split(', ') ?? []) {
      if (method === 'HEAD') continue; // fastify adds HEAD to every GET; the document leaves it implied
      routes.push(`${method} ${stack.join('').replace(/:(\w+)/g, '{$1}')}`);
    }
  }
  return routes.sort();
}

/**
 * SwaggerParser.validate(structuredClone(doc)), run by node itself: the validator's
 * json-schema-ref-parser is an ES module, which jest's CommonJS runtime cannot require and Node
 * 20.19+ can. Resolves with its error message, or null when the document is valid.
 */
function validateOpenApi(doc: unknown): string | null {
  const script = `
    const SwaggerParser = require('@apidevtools/swagger-parser');
    let input = '';
    process.stdin.on('data', (d) => (input += d)).on('end', () => {
      SwaggerParser.validate(structuredClone(JSON.parse(input))).then(() => process.stdout.write('valid'), (e) => process.stdout.write(String(e.message)));
    });`;
  const run = spawnSync(process.execPath, ['-e', script], { cwd: resolve(__dirname, '../..'), input: JSON.stringify(doc), encoding: 'utf8' });
  if (run.status !== 0) return `the validator did not run: ${run.stderr}`;
  return run.stdout === 'valid' ? null : run.stdout;
}

const METHODS = ['get', 'post', 'put', 'patch', 'delete'] as const;

describe.each(apiSetups('API OpenAPI'))('GET /openapi.json on %s', (_name, setup) => {
  let fx: ApiFixture;
  let client: ApiClient;

  beforeAll(async () => {
    fx = await setup();
    client = await fx.server();
  });
  afterAll(() => fx?.close());

  test('is a valid OpenAPI 3 document', async () => {
    const res = await client.inject({ url: '/openapi.json' });
    expect(res.statusCode).toBe(200);
    const doc = res.json() as OpenAPIV3.Document;
    expect(doc.openapi).toMatch(/^3\./);
    expect(validateOpenApi(doc)).toBeNull();
    // The validator does catch a broken document (so this test can fail).
    expect(validateOpenApi({ ...doc, paths: { '/x': { get: { responses: { 200: { $ref: '#/nowhere' } } } } } })).toMatch(/.+/);
  });

  test('documents every registered route, and nothing else', async () => {
    const doc = (await client.inject({ url: '/openapi.json' })).json() as OpenAPIV3.Document;
    const documented = Object.entries(doc.paths)
      .flatMap(([path, item]) => METHODS.filter((m) => item?.[m]).map((m) => `${m.toUpperCase()} ${path}`))
      .sort();
    // The dashboard's static files (GET / and /dashboard/{file}) are not API: hidden from the document.
    const routes = routesOf(client.app).filter((route) => route !== 'GET /' && !route.startsWith('GET /dashboard/'));
    expect(routes.length).toBeGreaterThanOrEqual(10);
    expect(documented).toEqual(routes);
  });

  test('the list route documents its filter syntax and the limit bound', async () => {
    const doc = (await client.inject({ url: '/openapi.json' })).json() as OpenAPIV3.Document;
    const params = doc.paths['/api/tasks']?.get?.parameters as OpenAPIV3.ParameterObject[];
    const byName = Object.fromEntries(params.map((p) => [p.name, p]));
    expect(byName.filter.description).toMatch(/column:operator:value/);
    expect(byName.limit.schema).toMatchObject({ maximum: 1000 });
    expect(Object.keys(byName)).toEqual(expect.arrayContaining(['status', 'taskName', 'owner', 'sort', 'offset']));
  });
});
