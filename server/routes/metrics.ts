import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { TaskqMetrics } from '../../src';
import { requireOperator } from '../auth';
import type { RouteOptions } from './tasks';

export interface MetricsRouteOptions extends RouteOptions {
  /** The registry to serve; else one of the server's own, counting the API's enqueues. */
  metrics?: TaskqMetrics;
}

export const metricsRoutes: FastifyPluginAsyncZod<MetricsRouteOptions> = async (app, { dispatcher, metrics }) => {
  let served = metrics;
  if (!served) {
    const own = new TaskqMetrics({ dispatcher });
    const unsubscribe = own.observeEnqueues();
    app.addHook('onClose', async () => unsubscribe());
    served = own;
  }
  const registry = served;
  app.get('/metrics', {
    schema: {
      summary: 'Prometheus metrics',
      description: 'In Prometheus\' text format: tasks by status and queue, queue depths, workers alive, and the counters of this process. Needs a token without owner.',
      tags: ['meta'],
    },
    handler: async (request, reply) => {
      requireOperator(request);
      const text = await registry.metrics();
      return reply.type(registry.contentType).send(text);
    },
  });
};
