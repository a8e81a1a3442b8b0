import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { AbstractTask, Queue, QueueDispatcher, RdsQueueBroker, RdsTaskLogBroker, Report, TaskLog, Worker, silentLogger, type TaskContext } from '../../src';
import { type ServerOptions, buildServer, serverUrl } from '../../server';
import { usePostgresDatabase } from '../helpers/postgres';

/** A task whose params have a schema: the API validates them and lists the schema. */
export class Greet extends AbstractTask<{ name: string }> {
  static override taskName = 'Greet';
  static override params = z.object({ name: z.string().min(1), times: z.number().int().min(1).optional() });
  run() {
    return Report.success(`hello ${this.getParameter('name')}`);
  }
}

export class Boom extends AbstractTask<Record<string, never>> {
  static override taskName = 'Boom';
  run(): never {
    throw new Error('boom on purpose');
  }
}

/** Ends child_running, then completed once its two Greet children have. */
export class Parent extends AbstractTask<Record<string, never>> {
  static override taskName = 'Parent';
  async run(ctx: TaskContext) {
    await ctx.enqueueChild(new Greet({ name: 'kid 1' }));
    await ctx.enqueueChild(new Greet({ name: 'kid 2' }));
    return 'spawned';
  }
}

/** What a test sends: as fastify's inject() takes it. */
export interface ApiRequest {
  method?: string;
  url: string;
  payload?: unknown;
  headers?: Record<string, string>;
}

export interface ApiResponse {
  statusCode: number;
  headers: Headers;
  body: string;
  json(): unknown;
}

/**
 * A server listening on 127.0.0.1, port 0, and a client for it. Over real HTTP rather than
 * fastify's inject(): inject loads light-my-request, whose `cookie` dependency is an ES module
 * that jest's CommonJS runtime cannot require.
 */
export interface ApiClient {
  app: FastifyInstance;
  url: string;
  inject(request: ApiRequest): Promise<ApiResponse>;
}

export async function listen(app: FastifyInstance): Promise<ApiClient> {
  await app.listen({ host: '127.0.0.1', port: 0 });
  const url = serverUrl(app);
  return {
    app,
    url,
    async inject({ method = 'GET', url: path, payload, headers = {} }) {
      const body = payload === undefined ? undefined : typeof payload === 'string' ? payload : JSON.stringify(payload);
      const res = await fetch(`${url}${path}`, { method, body, headers: body === undefined ? headers : { 'content-type': 'application/json', ...headers } });
      const text = await res.text();
      return { statusCode: res.status, headers: res.headers, body: text, json: () => JSON.parse(text) as unknown };
    },
  };
}

export interface ApiFixture {
  dispatcher: QueueDispatcher;
  /** Ids of the seeded tasks, by what they are. */
  ids: { greetAnn: string; greetBob: string; boom: string; parent: string; pendingCarl: string; percent: string; underscore: string };
  close(): Promise<void>;
  /** A server of the dispatcher (closed with the fixture), listening on loopback. */
  server(options?: ServerOptions): Promise<ApiClient>;
}

let tables = 0;

/**
 * A dispatcher on a real SQL database with a seeded task log: completed, failed, child_running →
 * completed parent with children, and pending tasks (two of owner alice), run by a real Worker.
 */
async function fixture(connection: string, cleanup: () => void): Promise<ApiFixture> {
  const suffix = `${process.pid}_${++tables}`;
  const dispatcher = new QueueDispatcher({
    queues: [new Queue('standard', new RdsQueueBroker({ connection, table: `messages_${suffix}`, receive: 5 }), 30), new Queue('priority', new RdsQueueBroker({ connection, table: `messages_${suffix}`, receive: 5 }), 90)],
    defaultQueue: 'standard',
    associations: { Boom: 'priority' },
    taskLog: new TaskLog(new RdsTaskLogBroker({ connection, table: `task_log_${suffix}` })),
    tasks: [Greet, Boom, Parent],
    logger: silentLogger,
  });
  await dispatcher.initialize();
  const greetAnn = await dispatcher.enqueue(new Greet({ name: 'ann' }), 'greet ann');
  const greetBob = await dispatcher.enqueue(new Greet({ name: 'bob' }), { label: 'greet bob', owner: 'alice' });
  const boom = await dispatcher.enqueue(new Boom({}), 'boom');
  const parent = await dispatcher.enqueue(new Parent({}), 'parent');
  // Greet ×2, Boom, Parent, and Parent's two children.
  await new Worker(dispatcher, { limit: 6, logger: silentLogger, idleMaxMs: 20 }).run();
  const pendingCarl = await dispatcher.enqueue(new Greet({ name: 'carl' }), { label: 'pending carl', owner: 'alice', delay: 3_600_000 });
  const percent = await dispatcher.enqueue(new Greet({ name: 'p' }), { label: '100%', delay: 3_600_000 });
  const underscore = await dispatcher.enqueue(new Greet({ name: 'u' }), { label: 'a_b', delay: 3_600_000 });
  const servers: FastifyInstance[] = [];
  return {
    dispatcher,
    ids: { greetAnn: greetAnn.id, greetBob: greetBob.id, boom: boom.id, parent: parent.id, pendingCarl: pendingCarl.id, percent: percent.id, underscore: underscore.id },
    async server(options) {
      const app = await buildServer(dispatcher, options);
      servers.push(app);
      return listen(app);
    },
    async close() {
      for (const app of servers) await app.close();
      await dispatcher.close();
      cleanup();
    },
  };
}

/** SQLite, and PostgreSQL when TASKQ_TEST_PG_URL is set; call at the top level of a test file. */
export function apiSetups(suite: string): [string, () => Promise<ApiFixture>][] {
  const setups: [string, () => Promise<ApiFixture>][] = [
    [
      'sqlite',
      () => {
        const dir = mkdtempSync(join(tmpdir(), 'taskq-api-'));
        return fixture(`sqlite:${join(dir, 'q.db')}`, () => rmSync(dir, { recursive: true, force: true }));
      },
    ],
  ];
  const pg = usePostgresDatabase(suite);
  if (pg) setups.push(['postgres', () => fixture(pg, () => undefined)]);
  return setups;
}
