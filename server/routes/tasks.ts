import { createHash } from 'node:crypto';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { type EnqueueOptions, type JsonValue, type QueueDispatcher, TaskLogFilter, type TaskLogEntry } from '../../src';
import { ApiError, notFound } from '../apiError';
import { type ApiAccess, accessOf } from '../auth';
import {
  type EnqueueBody,
  MAX_LIMIT,
  enqueueBodySchema,
  enqueuedSchema,
  errorResponses,
  forceBodySchema,
  idParamsSchema,
  rerunSchema,
  statsQuerySchema,
  statsSchema,
  taskDetailSchema,
  taskListQuerySchema,
  taskListSchema,
  taskSchema,
  throughputQuerySchema,
  throughputSchema,
} from '../schemas';
import { taskJson, timingsOf } from '../taskJson';
import { filterOf, listFilterOf } from '../taskQuery';

export interface RouteOptions {
  dispatcher: QueueDispatcher;
}

/** The entry, if the caller may see it: another owner's task is as missing as an unknown one. */
async function visibleEntry(dispatcher: QueueDispatcher, id: string, access: ApiAccess): Promise<TaskLogEntry> {
  const entry = await dispatcher.taskLog.get(id);
  if (!entry || (access.owner !== undefined && entry.owner !== access.owner)) throw notFound(id);
  return entry;
}

/**
 * A token with an owner may name only its owner's tasks in `after`: a prerequisite's result
 * becomes the task's previousResult, and its end is seen by waiting. Another owner's task is
 * refused as an unknown one is (the enqueue's own check), so the answer tells nothing of it.
 */
async function checkVisiblePrerequisites(dispatcher: QueueDispatcher, after: readonly string[], owner: string): Promise<void> {
  const visible = new Set((await dispatcher.taskLog.search(new TaskLogFilter().in('id', after).eq('owner', owner))).map((entry) => entry.id));
  const missing = after.filter((id) => !visible.has(id));
  if (missing.length > 0) throw new ApiError(400, `enqueue option after names ${missing.length === 1 ? 'a task' : 'tasks'} not in the task log: ${missing.join(', ')}`, 'after');
}

/** The unique key's room for the owner's mark: the log keeps keys of up to 255 characters. */
const OWNER_MARK_CHARS = 17;
const MAX_OWNER_KEY_CHARS = 255 - OWNER_MARK_CHARS;

/**
 * A token with an owner has unique keys of its own: one owner's pending task never answers
 * another owner's enqueue (that would give away its id and status) nor holds a key another owner
 * uses. The key is marked with a digest of the owner (the owner itself may be too long to fit).
 */
function ownerScopedKey(owner: string, uniqueKey: string): string {
  if (uniqueKey.length > MAX_OWNER_KEY_CHARS) {
    throw new ApiError(400, `uniqueKey must be at most ${MAX_OWNER_KEY_CHARS} characters with a token that has an owner (the key is kept per owner), got ${uniqueKey.length}`, 'uniqueKey');
  }
  return `${createHash('sha256').update(owner).digest('hex').slice(0, OWNER_MARK_CHARS - 1)}:${uniqueKey}`;
}

function enqueueOptionsOf(body: EnqueueBody, access: ApiAccess): EnqueueOptions {
  if (access.owner !== undefined && body.owner !== undefined && body.owner !== access.owner) {
    throw new ApiError(403, `This token enqueues tasks of owner "${access.owner}" only`, 'owner');
  }
  if (body.delay !== undefined && body.runAt !== undefined) throw new ApiError(400, 'Give delay or runAt, not both', 'runAt');
  const owner = access.owner ?? body.owner;
  const options: EnqueueOptions = {};
  if (body.label !== undefined) options.label = body.label;
  if (owner !== undefined) options.owner = owner;
  if (body.queue !== undefined) options.queue = body.queue;
  if (body.delay !== undefined) options.delay = body.delay;
  if (body.runAt !== undefined) options.runAt = new Date(body.runAt);
  if (body.after !== undefined) options.after = body.after;
  if (body.uniqueKey !== undefined) options.uniqueKey = access.owner === undefined ? body.uniqueKey : ownerScopedKey(access.owner, body.uniqueKey);
  if (body.maxAttempts !== undefined) options.maxAttempts = body.maxAttempts;
  if (body.timeout !== undefined) options.timeout = body.timeout;
  return options;
}

/** /api/tasks and /api/stats: the task log, read and acted on. */
export const taskRoutes: FastifyPluginAsyncZod<RouteOptions> = async (app, { dispatcher }) => {
  const log = dispatcher.taskLog;

  app.get('/api/tasks', {
    schema: {
      summary: 'List tasks',
      description: 'Filtered, sorted and paged; newest first by default. Archived tasks are left out unless the filter names a status or archived=true.',
      tags: ['tasks'],
      querystring: taskListQuerySchema,
      response: { 200: taskListSchema, ...errorResponses },
    },
    handler: async (request) => {
      const filter = listFilterOf(request.query, accessOf(request));
      const [entries, total] = await Promise.all([log.search(filter), log.count(filter)]);
      return { total, limit: request.query.limit, offset: request.query.offset, tasks: entries.map(taskJson) };
    },
  });

  app.get('/api/stats', {
    schema: {
      summary: 'Tasks per status',
      description: 'Every status with its count (zeros included) and the total, for the tasks the same filters as GET /api/tasks select (archived included).',
      tags: ['tasks'],
      querystring: statsQuerySchema,
      response: { 200: statsSchema, ...errorResponses },
    },
    handler: async (request) => log.getStats(filterOf(request.query, accessOf(request))),
  });

  app.get('/api/stats/throughput', {
    schema: {
      summary: 'Tasks finished per interval',
      description: 'Completed and failed tasks per interval (a minute by default) over the last minutes (60 by default), by when they finished, for the tasks the same filters as GET /api/stats select: the throughput and the failure rate.',
      tags: ['tasks'],
      querystring: throughputQuerySchema,
      response: { 200: throughputSchema, ...errorResponses },
    },
    handler: async (request) => {
      const { minutes, interval, ...query } = request.query;
      const intervalMs = interval * 1_000;
      if ((minutes * 60_000) / intervalMs > 1_000) throw new ApiError(400, `${minutes} minutes in intervals of ${interval} s is more than 1000 intervals: take a longer interval`, 'interval');
      const found = await log.throughput({ since: new Date(Date.now() - minutes * 60_000), intervalMs, filter: filterOf(query, accessOf(request)) });
      return { since: found.since.toISOString(), intervalMs: found.intervalMs, intervals: found.intervals.map((i) => ({ start: i.start.toISOString(), completed: i.completed, failed: i.failed })) };
    },
  });

  app.get('/api/tasks/:id', {
    schema: {
      summary: 'One task',
      description: 'Its entry (report, progress, attempts, stalls), timings, and children.',
      tags: ['tasks'],
      params: idParamsSchema,
      response: { 200: taskDetailSchema, ...errorResponses },
    },
    handler: async (request) => {
      const access = accessOf(request);
      const entry = await visibleEntry(dispatcher, request.params.id, access);
      const children = new TaskLogFilter().eq('parentId', entry.id);
      if (access.owner !== undefined) children.eq('owner', access.owner);
      const [list, childCount] = await Promise.all([log.search(children.sort('createdAt', 'asc').limit(MAX_LIMIT)), log.count(children)]);
      return { task: taskJson(entry), timings: timingsOf(entry), children: list.map(taskJson), childCount };
    },
  });

  app.post('/api/tasks', {
    schema: {
      summary: 'Enqueue a registered task',
      description: 'By its registered name, with JSON params checked against its class\'s params schema (a 400 names the field). A token with an owner makes the task that owner\'s.',
      tags: ['tasks'],
      body: enqueueBodySchema,
      response: { 201: enqueuedSchema, ...errorResponses },
    },
    handler: async (request, reply) => {
      const { body } = request;
      const access = accessOf(request);
      const options = enqueueOptionsOf(body, access);
      if (!(await dispatcher.registry.resolve(body.name))) {
        throw new ApiError(404, `No task named "${body.name}" is registered; registered: ${dispatcher.registry.names().join(', ') || '(none)'}`, 'name');
      }
      if (options.queue !== undefined && !dispatcher.getQueueNames().includes(options.queue)) {
        throw new ApiError(400, `Unknown queue "${options.queue}"; queues: ${dispatcher.getQueueNames().join(', ')}`, 'queue');
      }
      if (options.after && access.owner !== undefined) await checkVisiblePrerequisites(dispatcher, options.after, access.owner);
      // What enqueueByName does, with a look at the queue in between, as `taskq enqueue` has.
      const task = dispatcher.registry.bind(dispatcher.registry.create(body.name, (body.params ?? {}) as JsonValue));
      const queue = dispatcher.queueFor(task, options.queue);
      if (queue.broker.processLocal) {
        throw new ApiError(409, `Queue "${queue.name}" keeps its messages inside this server's process: a task enqueued here would never reach a worker`, 'queue');
      }
      await dispatcher.enqueue(task, options);
      const entry = await log.get(task.id);
      void reply.status(201);
      return { id: task.id, taskName: task.logName, queue: entry?.queue ?? null, status: entry?.status ?? null };
    },
  });

  for (const action of ['cancel', 'archive'] as const) {
    app.post(`/api/tasks/:id/${action}`, {
      schema: {
        summary: action === 'cancel' ? 'Cancel a task' : 'Archive a task',
        description:
          action === 'cancel'
            ? 'A task that has not started; with force, a running one too (its worker aborts it at its next lease renewal). 409 when its status forbids it.'
            : 'A task that has ended; with force, any. 409 when its status forbids it.',
        tags: ['tasks'],
        params: idParamsSchema,
        body: forceBodySchema,
        response: { 200: taskSchema, ...errorResponses },
      },
      handler: async (request) => {
        const entry = await visibleEntry(dispatcher, request.params.id, accessOf(request));
        const force = request.body?.force === true;
        return taskJson(await log[action](entry.id, { force }));
      },
    });
  }

  app.post('/api/tasks/:id/rerun', {
    schema: {
      summary: 'Run a failed or cancelled task again',
      description: 'Publishes it again, by its id, on the queue its entry names. 409 when it is in any other status (archived included) or its task is not registered with this server.',
      tags: ['tasks'],
      params: idParamsSchema,
      response: { 200: rerunSchema, ...errorResponses },
    },
    handler: async (request) => {
      const entry = await visibleEntry(dispatcher, request.params.id, accessOf(request));
      let queue: string | null = null;
      const task = await dispatcher.rerun(entry.id, {
        checkQueue: (q) => {
          queue = q.name;
          if (q.broker.processLocal && !q.isSync()) {
            throw new ApiError(409, `Queue "${q.name}" keeps its messages inside this server's process: a task published again here would never reach a worker`);
          }
        },
      });
      return { id: task.id, taskName: task.logName, queue, status: await log.getStatus(task.id) };
    },
  });
};
