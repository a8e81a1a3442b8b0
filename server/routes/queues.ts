import { z } from 'zod';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import type { QueueDepth } from '../../src';
import { ApiError } from '../apiError';
import { requireOperator } from '../auth';
import { errorResponses } from '../schemas';
import type { RouteOptions } from './tasks';

const nullableTime = z.iso.datetime().nullable().describe('When the oldest waiting task was created; null when none waits');

const queueDepthSchema = z.object({
  queue: z.string(),
  broker: z.string().describe('memory, rds or sqs'),
  messages: z.number().int().describe('Messages the broker holds: waiting, delayed and leased (SQS: its approximate count)'),
  waiting: z.number().int().describe('Tasks enqueued or dequeued, not taken by a worker yet'),
  running: z.number().int(),
  oldestWaitingAt: nullableTime,
  tasks: z.array(z.object({ taskName: z.string(), waiting: z.number().int(), running: z.number().int(), oldestWaitingAt: nullableTime })).describe('Per task name, the most waiting first'),
});

const iso = (date: Date | null): string | null => (date ? date.toISOString() : null);

function depthJson(depth: QueueDepth): z.infer<typeof queueDepthSchema> {
  return {
    queue: depth.queue,
    broker: depth.broker,
    messages: depth.messages,
    waiting: depth.waiting,
    running: depth.running,
    oldestWaitingAt: iso(depth.oldestWaitingAt),
    tasks: depth.tasks.map((t) => ({ taskName: t.taskName, waiting: t.waiting, running: t.running, oldestWaitingAt: iso(t.oldestWaitingAt) })),
  };
}

export const queueRoutes: FastifyPluginAsyncZod<RouteOptions> = async (app, { dispatcher }) => {
  app.get('/api/queues', {
    schema: {
      summary: 'Queue depths',
      description: 'Each queue\'s messages, waiting and running tasks, in all and per task name, in config order. Needs a token without owner.',
      tags: ['queues'],
      response: { 200: z.array(queueDepthSchema), ...errorResponses },
    },
    handler: async (request) => {
      requireOperator(request);
      return (await dispatcher.queueDepths()).map(depthJson);
    },
  });

  app.post('/api/queues/:name/purge', {
    schema: {
      summary: 'Purge a queue',
      description: 'Cancels its waiting tasks (of one task name, if given) and removes their messages; running tasks are left alone. Needs a token without owner.',
      tags: ['queues'],
      params: z.object({ name: z.string().min(1).describe('A queue name') }),
      body: z.object({ taskName: z.string().min(1).optional().describe('Only the waiting tasks of this name') }).strict().nullish(),
      response: { 200: z.object({ cancelled: z.number().int(), messagesRemoved: z.number().int() }), ...errorResponses },
    },
    handler: async (request) => {
      requireOperator(request);
      const { name } = request.params;
      if (!dispatcher.getQueueNames().includes(name)) throw new ApiError(404, `No queue named "${name}"; queues: ${dispatcher.getQueueNames().join(', ')}`, 'name');
      const taskName = request.body?.taskName;
      return dispatcher.purge(name, { ...(taskName === undefined ? {} : { taskName }), by: `the HTTP API (client ${request.ip})` });
    },
  });
};
