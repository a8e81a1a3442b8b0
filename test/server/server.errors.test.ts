/**
 * buildServer's answer to a failure it did not expect (here: a task log whose database is gone):
 * a 500 whose body says nothing of the server's insides, the details in the server's log; and
 * the health check says 503. And a queue whose messages would stay in the server's process.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InMemoryQueueBroker, InMemoryTaskLogBroker, Queue, QueueDispatcher, RdsQueueBroker, RdsTaskLogBroker, TaskLog, createLogger, type Logger } from '../../src';
import { buildServer } from '../../server';
import { Greet, listen } from './apiSetup';

test('an unexpected failure is a 500 without a stack, logged with its details; /api/health is 503', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'taskq-api-errors-'));
  const connection = `sqlite:${join(dir, 'q.db')}`;
  const errors: string[] = [];
  const logger: Logger = { ...createLogger('silent'), error: (message: string) => void errors.push(message) };
  const dispatcher = new QueueDispatcher({
    queues: [new Queue('standard', new RdsQueueBroker({ connection }))],
    taskLog: new TaskLog(new RdsTaskLogBroker({ connection })),
    tasks: [Greet],
    logger,
  });
  await dispatcher.initialize();
  const client = await listen(await buildServer(dispatcher, { logger }));
  try {
    expect((await client.inject({ url: '/api/health' })).statusCode).toBe(200);
    await dispatcher.taskLog.close();
    const res = await client.inject({ url: '/api/tasks' });
    expect(res.statusCode).toBe(500);
    expect(res.json()).toEqual({ statusCode: 500, error: 'Internal server error (see the server log)' });
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(/^API GET \/api\/tasks failed: .+\n\s+at /);
    expect((await client.inject({ url: '/api/health' })).statusCode).toBe(503);
  } finally {
    await client.app.close();
    await dispatcher.close().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  }
});

test('POST /api/tasks and /rerun refuse a queue whose messages stay inside the server process (409), not a sync one', async () => {
  const dispatcher = new QueueDispatcher({
    queues: [new Queue('local', new InMemoryQueueBroker({ sync: false })), new Queue('sync', new InMemoryQueueBroker({ sync: true }))],
    taskLog: new TaskLog(new InMemoryTaskLogBroker()),
    tasks: [Greet],
  });
  await dispatcher.initialize();
  const client = await listen(await buildServer(dispatcher));
  try {
    const refused = await client.inject({ method: 'POST', url: '/api/tasks', payload: { name: 'Greet', params: { name: 'x' } } });
    expect(refused.statusCode).toBe(409);
    expect(refused.json()).toMatchObject({ field: 'queue', error: expect.stringMatching(/inside this server's process/) });
    expect(await dispatcher.taskLog.count()).toBe(0);
    const ran = await client.inject({ method: 'POST', url: '/api/tasks', payload: { name: 'Greet', params: { name: 'x' }, queue: 'sync' } });
    expect(ran.statusCode).toBe(201);
    expect(ran.json()).toMatchObject({ queue: 'sync', status: 'completed' });
  } finally {
    await client.app.close();
    await dispatcher.close();
  }
});
