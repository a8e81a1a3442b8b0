import { z } from 'zod';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { CallbackTask, type QueueDispatcher, type TaskClass } from '../../src';
import { registeredTaskSchema } from '../schemas';
import type { RouteOptions } from './tasks';

type RegisteredTask = z.infer<typeof registeredTaskSchema>;

/** A schema's JSON Schema, where it can say it (Standard JSON Schema: zod 4.2+, others). */
function jsonSchemaOf(cls: TaskClass): Record<string, unknown> | null {
  const converter = (cls.params as { '~standard': { jsonSchema?: { input?: (options: { target: string }) => Record<string, unknown> } } } | undefined)?.['~standard'].jsonSchema;
  if (typeof converter?.input !== 'function') return null;
  try {
    return converter.input({ target: 'draft-07' });
  } catch {
    // A schema with parts JSON Schema cannot express (a transform, a custom check): say nothing rather than something wrong.
    return null;
  }
}

/**
 * The queue a task goes to without an explicit one: its class's getQueueName hook decides per
 * task (null here), else the associations and the default queue, which queueFor applies.
 */
function queueOf(dispatcher: QueueDispatcher, name: string, cls: TaskClass | undefined): string | null {
  if (cls && typeof (cls.prototype as { getQueueName?: unknown }).getQueueName === 'function') return null;
  try {
    return dispatcher.queueFor(dispatcher.registry.create(name, cls ? {} : null)).name;
  } catch {
    return null;
  }
}

function registeredTasks(dispatcher: QueueDispatcher): RegisteredTask[] {
  const { registry } = dispatcher;
  return registry.names().map((name) => {
    const callback = name.startsWith(`${CallbackTask.taskName}:`);
    const cls = callback ? undefined : registry.get(name);
    return {
      name,
      kind: callback ? 'callback' : 'task',
      queue: queueOf(dispatcher, name, cls),
      paramsSchema: cls ? jsonSchemaOf(cls) : null,
      from: registry.originOf(name) ?? 'code',
    };
  });
}

export const registryRoutes: FastifyPluginAsyncZod<RouteOptions> = async (app, { dispatcher }) => {
  app.get('/api/registered-tasks', {
    schema: {
      summary: 'The registered tasks',
      description: 'What POST /api/tasks can enqueue: each name, the queue it goes to, and its params as JSON Schema. Tasks of a tasksDir appear once loaded.',
      tags: ['registry'],
      response: { 200: z.array(registeredTaskSchema) },
    },
    handler: async () => registeredTasks(dispatcher),
  });
};
