import { z } from 'zod';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { requireOperator } from '../auth';
import { errorResponses } from '../schemas';
import type { RouteOptions } from './tasks';

const workerSchema = z.object({
  id: z.string(),
  host: z.string(),
  pid: z.number().int(),
  queues: z.array(z.string()).describe('The queues it consumes'),
  status: z.string().describe('What it last said it was doing'),
  alive: z.boolean().describe('Not stopped, and seen within three of its heartbeats'),
  startedAt: z.iso.datetime(),
  lastSeenAt: z.iso.datetime(),
  sinceSeenMs: z.number().int(),
  heartbeatMs: z.number().int(),
  tasksRun: z.number().int().describe('Runs it finished: completed, failed or retried'),
});

export const workerRoutes: FastifyPluginAsyncZod<RouteOptions> = async (app, { dispatcher }) => {
  app.get('/api/workers', {
    schema: {
      summary: 'The workers',
      description: 'Every worker that wrote a heartbeat to the task log (and was not removed since), oldest start first. Needs a token without owner.',
      tags: ['workers'],
      response: { 200: z.array(workerSchema), ...errorResponses },
    },
    handler: async (request) => {
      requireOperator(request);
      return (await dispatcher.taskLog.listWorkers()).map((w) => ({
        id: w.id,
        host: w.host,
        pid: w.pid,
        queues: w.queues,
        status: w.status,
        alive: w.alive,
        startedAt: w.startedAt.toISOString(),
        lastSeenAt: w.lastSeenAt.toISOString(),
        sinceSeenMs: Math.round(w.sinceSeenMs),
        heartbeatMs: w.heartbeatMs,
        tasksRun: w.tasksRun,
      }));
    },
  });
};
