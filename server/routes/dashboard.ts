import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { FastifyPluginAsync, FastifyReply } from 'fastify';
import { ApiError } from '../apiError';

/**
 * The dashboard: a few static files (no build step) that call the /api routes from the browser.
 * Only the files named here are served, read once at start-up: a request path is looked up in
 * this map and never becomes a file path, so no `..` or odd encoding can reach another file.
 */
const DASHBOARD_FILES: Readonly<Record<string, string>> = {
  'index.html': 'text/html; charset=utf-8',
  'dashboard.css': 'text/css; charset=utf-8',
  'dashboard.js': 'text/javascript; charset=utf-8',
  'api.js': 'text/javascript; charset=utf-8',
  'dom.js': 'text/javascript; charset=utf-8',
  'format.js': 'text/javascript; charset=utf-8',
  'login.js': 'text/javascript; charset=utf-8',
  'overview.js': 'text/javascript; charset=utf-8',
  'chart.js': 'text/javascript; charset=utf-8',
  'queueTable.js': 'text/javascript; charset=utf-8',
  'tasks.js': 'text/javascript; charset=utf-8',
  'taskDetail.js': 'text/javascript; charset=utf-8',
  'addTask.js': 'text/javascript; charset=utf-8',
  'queues.js': 'text/javascript; charset=utf-8',
};

/**
 * The dashboard's routes, which need no token: the files hold no data (every datum comes from
 * /api, which does need one), and the page must load to show its login form.
 */
export const DASHBOARD_ROUTES = ['/', '/dashboard/:file'];

/**
 * Where the files are: tsc does not copy them, so both layouts read the source folder, from
 * server/routes (ts-node, ts-jest) or from dist/server/routes (the built package).
 */
export function dashboardFolder(): string {
  const candidates = [resolve(__dirname, '../dashboard'), resolve(__dirname, '../../../server/dashboard')];
  const found = candidates.find((dir) => existsSync(join(dir, 'index.html')));
  if (!found) throw new Error(`The dashboard's files are missing: looked in ${candidates.join(', ')}`);
  return found;
}

interface Asset {
  type: string;
  body: Buffer;
}

/**
 * The scripts may talk to this server only, and no inline script or style runs: even if a value
 * slipped into the page as markup, the browser would not execute it.
 */
const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "form-action 'self'",
  "base-uri 'none'",
  "frame-ancestors 'none'",
].join('; ');

function send(reply: FastifyReply, asset: Asset): FastifyReply {
  return reply
    .header('content-type', asset.type)
    // Revalidated on every load: an upgraded server must not run last version's scripts.
    .header('cache-control', 'no-cache')
    .header('content-security-policy', CONTENT_SECURITY_POLICY)
    .header('x-content-type-options', 'nosniff')
    .header('referrer-policy', 'no-referrer')
    .send(asset.body);
}

/** GET / (the page) and GET /dashboard/<file> (its scripts and style); hidden from the OpenAPI document. */
export const dashboardRoutes: FastifyPluginAsync = async (app) => {
  const folder = dashboardFolder();
  const assets = new Map<string, Asset>(Object.entries(DASHBOARD_FILES).map(([name, type]) => [name, { type, body: readFileSync(join(folder, name)) }]));
  const index = assets.get('index.html') as Asset;

  app.get('/', { schema: { hide: true } }, async (_request, reply) => send(reply, index));
  app.get<{ Params: { file: string } }>('/dashboard/:file', { schema: { hide: true } }, async (request, reply) => {
    const asset = assets.get(request.params.file);
    if (!asset) throw new ApiError(404, `No dashboard file "${request.params.file}"`);
    return send(reply, asset);
  });
};
