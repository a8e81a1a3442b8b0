/**
 * The task semantics every broker must give the same way (awaited results, and the batches,
 * chains and the rest as they land): a dispatcher on the broker under test, and a worker on a
 * second dispatcher with a task-log object of its own, as another process has, so an end is
 * seen through the log's storage and not through this process's memory. Sync brokers run the
 * tasks at enqueue time and have no worker.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { z } from 'zod';
import { AbstractTask, Queue, QueueDispatcher, Report, TaskLog, TaskParamsError, TaskRunError, TaskStatus, TaskWaitTimeoutError, defineCallback, silentLogger, type TaskContext } from '../../src';
import { until } from '../helpers/wait';
import type { BrokerUnderTest } from './queueBrokerConformance';
import { whileWorkersRun } from '../helpers/workers';

class Add extends AbstractTask<{ a: number; b: number }> {
  static override taskName = 'Add';
  run(): number {
    return this.getParameter('a') + this.getParameter('b');
  }
}

class Reporting extends AbstractTask<{ records: number }> {
  static override taskName = 'Reporting';
  run(): Report {
    return Report.success(`Reindexed ${this.getParameter('records')} records`, { records: this.getParameter('records') });
  }
}

class Quiet extends AbstractTask<Record<string, never>> {
  static override taskName = 'Quiet';
  run(): void {}
}

class Explode extends AbstractTask<{ why: string }> {
  static override taskName = 'Explode';
  static override maxAttempts = 2;
  static override backoff = 10;
  run(ctx: TaskContext): never {
    throw new Error(`${this.getParameter('why')} (attempt ${ctx.attempt})`);
  }
}

class SendMail extends AbstractTask<{ to: string; subject: string; cc?: string[] }> {
  static override taskName = 'SendMail';
  static override params = z.object({ to: z.email(), subject: z.string().min(1), cc: z.array(z.email()).optional() });
  run(): string {
    return `sent to ${this.getParameter('to')}`;
  }
}

const shout = defineCallback('shout', (text) => String(text).toUpperCase());

const TASKS = [Add, Reporting, Quiet, Explode, SendMail, shout];

/** A task folder holding FOLDER_ECHO, whose module requires taskq's own source (one AbstractTask for all). */
function makeTaskFolder(): string {
  const dir = mkdtempSync(join(tmpdir(), 'taskq-semantics-folder-'));
  writeFileSync(join(dir, 'folder_echo.js'), `
const { AbstractTask } = require(${JSON.stringify(resolve(__dirname, '../../src/index.ts'))});
class FolderEcho extends AbstractTask {
  static taskName = 'FOLDER_ECHO';
  run() { return 'echo ' + this.getParameter('text'); }
}
module.exports = { FolderEcho };
`);
  return dir;
}

export interface SemanticsOptions {
  /** The broker runs tasks at enqueue time (InMemoryQueueBroker's default): no worker, no waiting. */
  sync?: boolean;
}

export function describeTaskSemantics(name: string, make: () => Promise<BrokerUnderTest>, options: SemanticsOptions = {}): void {
  /** Scenarios that need a task still waiting for a worker. */
  const whenQueued = options.sync ? () => undefined : test;
  describe(`${name}: task semantics`, () => {
    const tasksDir = makeTaskFolder();
    afterAll(() => rmSync(tasksDir, { recursive: true, force: true }));
    let sut: BrokerUnderTest;
    let dispatcher: QueueDispatcher;
    let workerDispatcher: QueueDispatcher;
    let n = 0;

    beforeEach(async () => {
      sut = await make();
      const q = `semantics_${++n}`;
      dispatcher = new QueueDispatcher({ queues: [new Queue(q, sut.queueBroker)], taskLog: new TaskLog(sut.taskLogBroker), tasks: TASKS, tasksDir, logger: silentLogger });
      workerDispatcher = new QueueDispatcher({ queues: [new Queue(q, sut.second ?? sut.queueBroker)], taskLog: new TaskLog(sut.taskLogBroker), tasks: TASKS, tasksDir, logger: silentLogger });
      await dispatcher.initialize();
    });

    afterEach(() => sut.cleanup());

    /** Runs `body` with a worker of the other dispatcher consuming (none on a sync broker). */
    function withWorker<T>(body: () => Promise<T>): Promise<T> {
      return options.sync ? body() : whileWorkersRun([workerDispatcher], body);
    }

    describe('enqueueByName: a task by its name, params checked', () => {
      test('runs a class by its name, and a callback by its name, with their results', async () => {
        const results = await withWorker(async () => {
          const mail = await dispatcher.enqueueByName('SendMail', { to: 'ada@example.com', subject: 'Hello' });
          const shouted = await dispatcher.enqueueByName('shout', 'hello');
          const [mailEntry, shoutEntry] = await dispatcher.taskLog.waitForEnd([mail.id, shouted.id], { timeoutMs: 20_000 });
          return [mailEntry.report?.data, shoutEntry.report?.data, mailEntry.taskName];
        });
        expect(results).toEqual(['sent to ada@example.com', 'HELLO', 'SendMail']);
      });

      test('params the schema refuses name each field and write nothing, in a batch too', async () => {
        const error = await dispatcher.enqueueByName('SendMail', { to: 'not-an-address', subject: '', cc: ['ok@example.com', 'nope'] }).catch((e: unknown) => e);
        expect(error).toBeInstanceOf(TaskParamsError);
        expect((error as TaskParamsError).issues.map((issue) => issue.path)).toEqual(['to', 'subject', 'cc[1]']);
        expect((error as Error).message).toMatch(/^Task "SendMail" params are invalid: to: .+; subject: .+; cc\[1\]: /);
        const batch = [new SendMail({ to: 'ada@example.com', subject: 'fine' }), new SendMail({ to: 'ada@example.com', subject: '' })];
        await expect(dispatcher.enqueueMany(batch)).rejects.toThrow(/params are invalid: subject: /);
        expect(await dispatcher.taskLog.count()).toBe(0);
        expect(await sut.queueBroker.count(dispatcher.getQueueNames()[0])).toBe(0);
      });

      test('a task of the task folder, unknown to the worker until it meets it, runs by its name', async () => {
        // Nothing is loaded before the name is met.
        expect(workerDispatcher.registry.knows('FOLDER_ECHO')).toBe(false);
        expect(() => dispatcher.registry.create('FOLDER_ECHO', {})).toThrow('Unknown task "FOLDER_ECHO"');
        const task = await dispatcher.enqueueByName('FOLDER_ECHO', { text: 'hi' });
        const [entry] = await withWorker(() => dispatcher.taskLog.waitForEnd([task.id], { timeoutMs: 20_000 }));
        expect(entry).toMatchObject({ status: TaskStatus.Completed, taskName: 'FOLDER_ECHO', report: { data: 'echo hi' } });
        if (!options.sync) expect(workerDispatcher.registry.originOf('FOLDER_ECHO')).toMatch(/^tasksDir: .*folder_echo\.js$/);
      });

      test('an unknown name lists what is registered and writes nothing', async () => {
        await expect(dispatcher.enqueueByName('DropTables', {})).rejects.toThrow('Unknown task "DropTables"; registered: Add, CallbackTask:shout, Explode, Quiet, Reporting, SendMail');
        await expect(dispatcher.enqueueByName('../folder_echo', {})).rejects.toThrow('Unknown task "../folder_echo"');
        await expect(dispatcher.enqueueByName('Add', [1, 2])).rejects.toThrow('Task "Add" params must be a JSON object, got an array');
        expect(await dispatcher.taskLog.count()).toBe(0);
      });
    });

    describe('run: an awaited task', () => {
      test('resolves with what its run returned, run by a worker elsewhere', async () => {
        await expect(withWorker(() => dispatcher.run<number>(new Add({ a: 2, b: 3 }), { timeout: 20_000 }))).resolves.toBe(5);
      });

      test('resolves with a returned report\'s data, and with undefined for no result', async () => {
        const [reported, quiet] = await withWorker(() => Promise.all([dispatcher.run(new Reporting({ records: 7 }), { timeout: 20_000 }), dispatcher.run(new Quiet({}), { timeout: 20_000 })]));
        expect(reported).toEqual({ records: 7 });
        expect(quiet).toBeUndefined();
      });

      test('rejects with a TaskRunError carrying the report once its retries are used up', async () => {
        const task = new Explode({ why: 'disk full' });
        const error = await withWorker(() => dispatcher.run(task, { timeout: 20_000 }).catch((e: unknown) => e));
        expect(error).toBeInstanceOf(TaskRunError);
        expect(error).toMatchObject({ taskId: task.id, taskName: 'Explode', status: TaskStatus.Failed, message: 'disk full (attempt 2)', report: { type: 'error', message: 'disk full (attempt 2)' } });
        expect(await dispatcher.taskLog.get(task.id)).toMatchObject({ status: TaskStatus.Failed, attempts: 2 });
      });

      test('many at once each resolve with their own result', async () => {
        const sums = await withWorker(() => Promise.all(Array.from({ length: 25 }, (_, i) => dispatcher.run<number>(new Add({ a: i, b: 1000 }), { timeout: 30_000 }))));
        expect(sums).toEqual(Array.from({ length: 25 }, (_, i) => i + 1000));
      });

      whenQueued('a timeout gives up the wait, not the task: a worker still runs it', async () => {
        const task = new Add({ a: 1, b: 1 });
        const error = await dispatcher.run(task, { timeout: 300 }).catch((e: unknown) => e);
        expect(error).toBeInstanceOf(TaskWaitTimeoutError);
        expect(error).toMatchObject({ taskIds: [task.id], timeoutMs: 300 });
        expect(await dispatcher.taskLog.getStatus(task.id)).toBe(TaskStatus.Enqueued);
        await withWorker(() => dispatcher.taskLog.waitForEnd([task.id], { timeoutMs: 20_000 }));
        expect(await dispatcher.taskLog.get(task.id)).toMatchObject({ status: TaskStatus.Completed, report: { data: 2 } });
      });

      whenQueued('cancelOnTimeout cancels the task when the wait gives up, and no worker runs it after', async () => {
        const task = new Add({ a: 1, b: 1 });
        await expect(dispatcher.run(task, { timeout: 300, cancelOnTimeout: true })).rejects.toBeInstanceOf(TaskWaitTimeoutError);
        expect(await dispatcher.taskLog.getStatus(task.id)).toBe(TaskStatus.Cancelled);
        const after = await withWorker(async () => {
          await dispatcher.run(new Add({ a: 0, b: 0 }), { timeout: 20_000 });
          return dispatcher.taskLog.get(task.id);
        });
        expect(after).toMatchObject({ status: TaskStatus.Cancelled, attempts: 0 });
      });

      whenQueued('a wait for a task cancelled meanwhile rejects with its status', async () => {
        const task = new Add({ a: 1, b: 1 });
        const waiting = dispatcher.run(task, { timeout: 20_000 }).catch((e: unknown) => e);
        await until(async () => (await dispatcher.taskLog.getStatus(task.id)) === TaskStatus.Enqueued);
        await dispatcher.taskLog.cancel(task.id);
        await expect(waiting).resolves.toMatchObject({ name: 'TaskRunError', status: TaskStatus.Cancelled, message: 'Cancelled before it started' });
      });
    });
  });
}
