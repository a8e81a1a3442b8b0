import fastifySwagger from '@fastify/swagger';
import Fastify, { type FastifyInstance } from 'fastify';
import { type ZodTypeProvider, jsonSchemaTransform, serializerCompiler, validatorCompiler } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { type Logger, type QueueDispatcher, type TaskqMetrics, silentLogger } from '../src';
import { ApiError } from './apiError';
import { type ApiToken, authHook, checkBind } from './auth';
import { DEFAULT_HOST } from './defaults';
import { errorHandler } from './errorHandler';
import { errorSchema } from './schemas';
import { DASHBOARD_ROUTES, dashboardRoutes } from './routes/dashboard';
import { metricsRoutes } from './routes/metrics';
import { queueRoutes } from './routes/queues';
import { registryRoutes } from './routes/registry';
import { taskRoutes } from './routes/tasks';
import { workerRoutes } from './routes/workers';

export interface ServerOptions {
  /** Where it will listen (default 127.0.0.1): any other address needs at least one token. */
  host?: string;
  /** Bearer tokens; none on loopback means no authentication. */
  tokens?: readonly ApiToken[];
  /** Where failures (500s) are logged; never the tokens. */
  logger?: Logger;
  /** The metrics /metrics serves; else the server's own (the task log's and brokers' gauges, and its enqueues). */
  metrics?: TaskqMetrics;
  /** Largest request body, in bytes (default 1 MiB). */
  bodyLimit?: number;
}

export { DEFAULT_HOST };

/** Routes any caller may request, token or not: the health check and the dashboard's static files say nothing about the tasks. */
const OPEN_ROUTES = ['/api/health', ...DASHBOARD_ROUTES];

/**
 * The HTTP API of a dispatcher (`taskq serve`), ready to listen or to take `inject()`: the
 * /api routes, /openapi.json generated from the same zod schemas that validate requests, and
 * /metrics. Refuses (ConfigError) a host other than loopback without a token.
 */
export async function buildServer(dispatcher: QueueDispatcher, options: ServerOptions = {}): Promise<FastifyInstance> {
  const host = options.host ?? DEFAULT_HOST;
  const tokens = options.tokens ?? [];
  checkBind(host, tokens);
  const logger = options.logger ?? silentLogger;
  // Fastify's own request log is off: the API's callers are operators, and the log must not
  // carry their Authorization headers.
  const app = Fastify({ logger: false, bodyLimit: options.bodyLimit ?? 1_048_576 }).withTypeProvider<ZodTypeProvider>();
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  app.setErrorHandler(errorHandler(logger));
  app.setNotFoundHandler((request) => {
    throw new ApiError(404, `No route ${request.method} ${request.url.split('?')[0]}`);
  });
  app.addHook('onRequest', authHook(tokens, OPEN_ROUTES));

  await app.register(fastifySwagger, {
    openapi: {
      openapi: '3.0.3',
      info: { title: 'taskq API', version: '1', description: 'The task log, queues, workers and registered tasks of a taskq deployment (taskq serve). See docs/api.md.' },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'Needed when the server has tokens (always on a non-loopback address)' } } },
      security: tokens.length ? [{ bearer: [] }] : [],
    },
    transform: jsonSchemaTransform,
  });

  app.get('/openapi.json', {
    schema: { summary: 'This OpenAPI document', tags: ['meta'], response: { 200: z.record(z.string(), z.unknown()), 401: errorSchema } },
    handler: async () => app.swagger() as unknown as Record<string, unknown>,
  });
  app.get('/api/health', {
    schema: { summary: 'Health check', description: 'No token needed; says only that the server answers and its task log can be read.', tags: ['meta'], security: [], response: { 200: z.object({ status: z.literal('ok') }), 503: errorSchema } },
    handler: async (_request, reply) => {
      try {
        // A lookup by primary key: a probe every few seconds must not count a million rows.
        await dispatcher.taskLog.get('taskq:health');
      } catch {
        return reply.status(503).send({ statusCode: 503, error: 'The task log cannot be read' });
      }
      return { status: 'ok' as const };
    },
  });

  const routeOptions = { dispatcher };
  await app.register(taskRoutes, routeOptions);
  await app.register(registryRoutes, routeOptions);
  await app.register(queueRoutes, routeOptions);
  await app.register(workerRoutes, routeOptions);
  await app.register(metricsRoutes, { ...routeOptions, metrics: options.metrics });
  await app.register(dashboardRoutes);
  await app.ready();
  return app;
}

/** The URL a listening server answers on (port 0 resolved to the real port). */
export function serverUrl(app: FastifyInstance): string {
  const address = app.server.address();
  if (address === null || typeof address === 'string') throw new Error('The server is not listening on a TCP port');
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return `http://${host}:${address.port}`;
}
