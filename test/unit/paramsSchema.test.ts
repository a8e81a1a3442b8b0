import { z } from 'zod';
import { AbstractTask, ConfigError, InMemoryQueueBroker, InMemoryTaskLogBroker, Queue, QueueDispatcher, TaskLog, TaskParamsError, TaskRegistry, silentLogger, type ParamsSchema, type TaskClass } from '../../src';


class Ship extends AbstractTask<{ order: number; address: { city: string; zip: string } }> {
  static override taskName = 'Ship';
  static override params = z.strictObject({ order: z.number().int().positive(), address: z.object({ city: z.string().min(1), zip: z.string().regex(/^\d{5}$/) }) });
  run(): void {}
}

function dispatcherFor(...tasks: TaskClass[]) {
  return new QueueDispatcher({ queues: [new Queue('q', new InMemoryQueueBroker())], taskLog: new TaskLog(new InMemoryTaskLogBroker()), tasks, logger: silentLogger });
}

describe('a task class\'s static params schema', () => {
  test('nested fields are named by their path; keys the schema does not know by the params as a whole', async () => {
    const dispatcher = dispatcherFor(Ship);
    const error = await dispatcher.enqueue(new Ship({ order: -1, address: { city: '', zip: '1234' }, extra: true } as never)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TaskParamsError);
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as TaskParamsError).issues.map((issue) => issue.path)).toEqual(['order', 'address.city', 'address.zip', '']);
    expect((error as Error).message).toMatch(/^Task "Ship" params are invalid: order: .*; address\.city: .*; address\.zip: .*; Unrecognized key: "extra"$/);
    expect(await dispatcher.taskLog.count()).toBe(0);
  });

  test('params the schema accepts run as given', async () => {
    const dispatcher = dispatcherFor(Ship);
    const task = await dispatcher.enqueueByName('Ship', { order: 7, address: { city: 'Lyon', zip: '69001' } });
    expect((await dispatcher.taskLog.get(task.id))?.status).toBe('completed');
  });

  test('an asynchronous schema is refused at enqueue, saying why', async () => {
    class Slow extends AbstractTask<{ n: number }> {
      static override taskName = 'SlowSchema';
      static override params = z.object({ n: z.number().refine(async (n) => n > 0) });
      run(): void {}
    }
    const dispatcher = dispatcherFor(Slow);
    await expect(dispatcher.enqueue(new Slow({ n: 1 }))).rejects.toThrow('Task "SlowSchema" params are invalid: the task\'s params schema is asynchronous');
  });

  test('a static params that is not a schema is refused when the class is registered', () => {
    class Wrong extends AbstractTask<{ n: number }> {
      static override taskName = 'Wrong';
      static override params = { n: 'number' } as unknown as ParamsSchema;
      run(): void {}
    }
    expect(() => new TaskRegistry([Wrong])).toThrow('Task class Wrong: static params must be a schema (zod 4, or any Standard Schema v1), got object');
  });

  test('any Standard Schema v1 works, not only zod', async () => {
    const even: ParamsSchema = {
      '~standard': {
        version: 1,
        vendor: 'hand-made',
        validate: (value) => ((value as { n?: unknown }).n as number) % 2 === 0 ? { value } : { issues: [{ message: 'must be even', path: [{ key: 'n' }] }] },
      },
    };
    class Even extends AbstractTask<{ n: number }> {
      static override taskName = 'Even';
      static override params = even;
      run(): void {}
    }
    const dispatcher = dispatcherFor(Even);
    await expect(dispatcher.enqueueByName('Even', { n: 3 })).rejects.toThrow('Task "Even" params are invalid: n: must be even');
    await expect(dispatcher.enqueueByName('Even', { n: 4 })).resolves.toBeInstanceOf(Even);
  });
});
