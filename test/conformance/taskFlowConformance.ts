/**
 * Prerequisites, chains and batches, the same on every broker: a dispatcher with two queues on
 * the broker under test (Double goes to the second), and workers on dispatchers of their own, as
 * other processes have. Sync brokers run every task at enqueue time and have no worker.
 */
import { AbstractTask, ConfigError, Queue, QueueDispatcher, TaskLog, TaskLogFilter, TaskRunError, TaskStatus, silentLogger, type BatchResultJson, type JsonValue, type TaskContext, type TaskLogEntry } from '../../src';
import type { BrokerUnderTest } from './queueBrokerConformance';
import type { SemanticsOptions } from './taskSemanticsConformance';
import { taskMessageBody } from '../helpers/messages';
import { whileWorkersRun } from '../helpers/workers';

class Add extends AbstractTask<{ a: number; b: number }> {
  static override taskName = 'Add';
  run(): number {
    return this.getParameter('a') + this.getParameter('b');
  }
}

class Double extends AbstractTask<Record<string, never>> {
  static override taskName = 'Double';
  run(ctx: TaskContext): number {
    return (ctx.previousResult as number) * 2;
  }
}

/** Returns what it was handed; records each run (the workers are in this process). */
class Collect extends AbstractTask<{ tag?: string }> {
  static override taskName = 'Collect';
  static runs: { id: string; tag?: string; previousResult: JsonValue | undefined }[] = [];
  run(ctx: TaskContext): JsonValue {
    Collect.runs.push({ id: this.id, tag: this.getParameter('tag'), previousResult: ctx.previousResult });
    return ctx.previousResult ?? null;
  }
}

class Slow extends AbstractTask<{ ms: number; result: string }> {
  static override taskName = 'Slow';
  async run(): Promise<string> {
    await new Promise((resolve) => setTimeout(resolve, this.getParameter('ms')));
    return this.getParameter('result');
  }
}

class Fail extends AbstractTask<{ why: string }> {
  static override taskName = 'Fail';
  run(): never {
    throw new Error(this.getParameter('why'));
  }
}

const TASKS = [Add, Double, Collect, Slow, Fail];

export function describeTaskFlows(name: string, make: () => Promise<BrokerUnderTest>, options: SemanticsOptions = {}): void {
  /** Scenarios that need a task still waiting for a worker (not registered on a sync broker). */
  const whenQueued = options.sync ? () => undefined : test;
  describe(`${name}: prerequisites, chains and batches`, () => {
    let sut: BrokerUnderTest;
    let dispatcher: QueueDispatcher;
    let queueNames: string[];
    let n = 0;

    const dispatcherOn = (broker: BrokerUnderTest['queueBroker']) =>
      new QueueDispatcher({ queues: queueNames.map((q) => new Queue(q, broker)), associations: { Double: queueNames[1] }, taskLog: new TaskLog(sut.taskLogBroker), tasks: TASKS, logger: silentLogger });

    beforeEach(async () => {
      sut = await make();
      n++;
      queueNames = [`flow_${n}_a`, `flow_${n}_b`];
      dispatcher = dispatcherOn(sut.queueBroker);
      await dispatcher.initialize();
      Collect.runs = [];
    });

    afterEach(() => sut.cleanup());

    /** Runs `body` with `workers` workers, each of a dispatcher of its own, consuming both queues. */
    function withWorkers<T>(body: () => Promise<T>, workers = 1): Promise<T> {
      if (options.sync) return body();
      return whileWorkersRun(Array.from({ length: workers }, (_, i) => dispatcherOn(i === 0 ? (sut.second ?? sut.queueBroker) : sut.queueBroker)), body);
    }

    const ended = (ids: string[]) => dispatcher.taskLog.waitForEnd(ids, { timeoutMs: 60_000 });

    /** The dependent was claimed no earlier than its prerequisite ended (both times from the log's clock). */
    function expectStartedAfter(dependent: TaskLogEntry, prerequisite: TaskLogEntry): void {
      expect(dependent.startedAt).not.toBeNull();
      expect((dependent.startedAt as Date).getTime()).toBeGreaterThanOrEqual((prerequisite.finishedAt as Date).getTime());
    }

    describe('enqueue option after', () => {
      test('holds a task until its prerequisite completed, and hands it the result', async () => {
        const [slowEntry, collectEntry] = await withWorkers(async () => {
          const slow = await dispatcher.enqueue(new Slow({ ms: 300, result: 'indexed' }));
          const collect = await dispatcher.enqueue(new Collect({}), { after: [slow.id] });
          return ended([slow.id, collect.id]);
        });
        expect(collectEntry).toMatchObject({ status: TaskStatus.Completed, report: { data: 'indexed' } });
        expectStartedAfter(collectEntry, slowEntry);
      });

      test('with several prerequisites, their results come in the order given', async () => {
        const entries = await withWorkers(async () => {
          const first = await dispatcher.enqueue(new Add({ a: 1, b: 1 }));
          const second = await dispatcher.enqueue(new Slow({ ms: 100, result: 'two' }));
          const collect = await dispatcher.enqueue(new Collect({}), { after: [second.id, first.id] });
          return ended([collect.id]);
        });
        expect(entries[0]).toMatchObject({ status: TaskStatus.Completed, report: { data: ['two', 2] } });
      });

      test('a failed prerequisite cancels the dependent, or fails it, or lets it run, by onPrerequisiteFailure', async () => {
        const [cancelled, failed, ran] = await withWorkers(async () => {
          const broken = await dispatcher.enqueue(new Fail({ why: 'disk full' }));
          const a = await dispatcher.enqueue(new Collect({ tag: 'cancel' }), { after: [broken.id] });
          const b = await dispatcher.enqueue(new Collect({ tag: 'fail' }), { after: [broken.id], onPrerequisiteFailure: 'fail' });
          const c = await dispatcher.enqueue(new Collect({ tag: 'run' }), { after: [broken.id], onPrerequisiteFailure: 'run' });
          return ended([a.id, b.id, c.id]);
        });
        expect(cancelled).toMatchObject({ status: TaskStatus.Cancelled, attempts: 0, report: { type: 'warning' } });
        expect(cancelled.report?.message).toMatch(/^Not run: prerequisite \S+ \(Fail\) ended failed: disk full$/);
        expect(failed).toMatchObject({ status: TaskStatus.Failed, attempts: 0, report: { type: 'error' } });
        expect(failed.report?.message).toMatch(/\(Fail\) ended failed: disk full$/);
        expect(ran).toMatchObject({ status: TaskStatus.Completed, report: { data: null } });
        expect(Collect.runs.map((run) => run.tag)).toEqual(['run']);
      });

      whenQueued('two deliveries of each waiting dependent, three workers: each dependent ends once, and one that runs runs once', async () => {
        const broken = await dispatcher.enqueue(new Fail({ why: 'disk full' }));
        const actions = ['cancel', 'fail', 'run'] as const;
        const dependents = await Promise.all(
          Array.from({ length: 12 }, (_, i) => dispatcher.enqueue(new Collect({ tag: `d${i}` }), { after: [broken.id], onPrerequisiteFailure: actions[i % 3] })),
        );
        // A second message of every dependent, as an at-least-once broker may deliver it.
        await sut.queueBroker.pushMany(
          queueNames[0],
          dependents.map((task, i) => ({
            taskId: task.id,
            body: taskMessageBody({ id: task.id, name: 'Collect', params: { tag: `d${i}` }, after: [broken.id], onPrerequisiteFailure: actions[i % 3] }),
            groupId: `twin-${task.id}`,
            deduplicationId: `twin-${task.id}`,
          })),
        );
        const entries = await withWorkers(() => ended(dependents.map((task) => task.id)), 3);
        entries.forEach((entry, i) => expect(entry.status).toBe([TaskStatus.Cancelled, TaskStatus.Failed, TaskStatus.Completed][i % 3]));
        // The twins of ended dependents are settled unrun: let the last of them come and go.
        await withWorkers(() => new Promise((resolve) => setTimeout(resolve, (sut.leaseMs ?? 200) * 2)), 3);
        expect(Collect.runs.map((run) => run.tag).sort()).toEqual(['d11', 'd2', 'd5', 'd8']);
        for (const entry of await dispatcher.taskLog.search(new TaskLogFilter().in('id', dependents.map((task) => task.id)))) {
          expect(entry.attempts).toBe(entry.status === TaskStatus.Completed ? 1 : 0);
        }
      });

      test('a prerequisite cancelled before it ran cancels its dependents down a line', async () => {
        if (options.sync) return;
        const first = await dispatcher.enqueue(new Add({ a: 1, b: 2 }));
        const second = await dispatcher.enqueue(new Collect({ tag: 'second' }), { after: [first.id] });
        const third = await dispatcher.enqueue(new Collect({ tag: 'third' }), { after: [second.id] });
        await dispatcher.taskLog.cancel(first.id);
        const [, secondEntry, thirdEntry] = await withWorkers(() => ended([first.id, second.id, third.id]));
        expect(secondEntry.status).toBe(TaskStatus.Cancelled);
        expect(secondEntry.report?.message).toContain(`prerequisite ${first.id} (Add) ended cancelled: Cancelled before it started`);
        expect(thirdEntry.status).toBe(TaskStatus.Cancelled);
        expect(thirdEntry.report?.message).toContain(`prerequisite ${second.id} (Collect) ended cancelled: Not run: prerequisite ${first.id}`);
        expect(Collect.runs).toEqual([]);
      });

      test('names that are not in the log, the task itself, or an option without after: one clear error, nothing written', async () => {
        await expect(dispatcher.enqueue(new Collect({}), { after: ['no-such-task'] })).rejects.toThrow(new ConfigError('enqueue option after names a task not in the task log: no-such-task'));
        const self = new Collect({});
        await expect(dispatcher.enqueue(self, { after: [self.id] })).rejects.toThrow(`enqueue option after names the task itself (${self.id})`);
        await expect(dispatcher.enqueue(new Collect({}), { onPrerequisiteFailure: 'run' })).rejects.toThrow('enqueue option onPrerequisiteFailure goes with after');
        await expect(dispatcher.enqueue(new Collect({}), { after: [] })).rejects.toThrow('enqueue option after must be an array of 1 to 100 distinct task ids');
        await expect(dispatcher.enqueue(new Collect({}), { after: ['x'], onPrerequisiteFailure: 'retry' as never })).rejects.toThrow('enqueue option onPrerequisiteFailure must be "cancel", "fail", "run"');
        expect(await dispatcher.taskLog.count()).toBe(0);
      });

      whenQueued('a dependent never starts before its prerequisite ended, with three workers racing for it', async () => {
        const { prerequisite, dependents } = await withWorkers(async () => {
          const slow = await dispatcher.enqueue(new Slow({ ms: 700, result: 'done' }));
          const waiting = await dispatcher.enqueueMany(Array.from({ length: 12 }, (_, i) => new Collect({ tag: `d${i}` })), { after: [slow.id] });
          const entries = await ended([slow.id, ...waiting.map((task) => task.id)]);
          return { prerequisite: entries[0], dependents: entries.slice(1) };
        }, 3);
        for (const dependent of dependents) {
          expect(dependent).toMatchObject({ status: TaskStatus.Completed, attempts: 1, report: { data: 'done' } });
          expectStartedAfter(dependent, prerequisite);
        }
        expect(Collect.runs).toHaveLength(12);
      });
    });

    describe('chain', () => {
      test('runs the steps in order across two queues, each with the previous result', async () => {
        const steps = [new Add({ a: 2, b: 3 }), new Double({}), new Double({})];
        const result = await withWorkers(() => dispatcher.runChain<number>(steps, { timeout: 60_000 }));
        expect(result).toBe(20);
        const entries = await Promise.all(steps.map(async (step) => (await dispatcher.taskLog.get(step.id)) as TaskLogEntry));
        expect(entries.map((entry) => [entry.queue, entry.report?.data])).toEqual([
          [queueNames[0], 5],
          [queueNames[1], 10],
          [queueNames[1], 20],
        ]);
        expectStartedAfter(entries[1], entries[0]);
        expectStartedAfter(entries[2], entries[1]);
      });

      test('a failing step stops the chain: the rest are cancelled with the reason, and the wait rejects with its error', async () => {
        const steps = [new Add({ a: 1, b: 1 }), new Fail({ why: 'no space left' }), new Double({}), new Collect({})];
        const error = await withWorkers(() => dispatcher.runChain(steps, { timeout: 60_000 }).catch((e: unknown) => e));
        expect(error).toBeInstanceOf(TaskRunError);
        expect(error).toMatchObject({ taskId: steps[1].id, taskName: 'Fail', status: TaskStatus.Failed, message: 'no space left' });
        const [first, failing, third, fourth] = await Promise.all(steps.map(async (step) => (await dispatcher.taskLog.get(step.id)) as TaskLogEntry));
        expect([first.status, failing.status, third.status, fourth.status]).toEqual([TaskStatus.Completed, TaskStatus.Failed, TaskStatus.Cancelled, TaskStatus.Cancelled]);
        expect(third.report?.message).toBe(`Not run: prerequisite ${steps[1].id} (Fail) ended failed: no space left`);
        expect(fourth.report?.message).toMatch(new RegExp(`^Not run: prerequisite ${steps[2].id} \\(Double\\) ended cancelled: `));
        expect(Collect.runs).toEqual([]);
      });

      test('chain() resolves once the steps are enqueued; refuses an empty chain and a step given twice', async () => {
        const steps = [new Add({ a: 4, b: 4 }), new Collect({})];
        await expect(dispatcher.chain([])).rejects.toThrow('chain() needs at least one task');
        await expect(dispatcher.chain([steps[0], steps[0]])).rejects.toThrow('chain() got the same task');
        await expect(dispatcher.chain(steps, { after: ['x'] } as never)).rejects.toThrow('chain() sets after itself');
        await expect(dispatcher.chain(steps, { uniqueKey: 'nightly' } as never)).rejects.toThrow('chain() cannot take uniqueKey');
        const enqueued = await dispatcher.chain(steps);
        expect(enqueued).toEqual(steps);
        const [, collect] = await withWorkers(() => ended(steps.map((step) => step.id)));
        expect(collect).toMatchObject({ status: TaskStatus.Completed, report: { data: 8 } });
      });
    });

    describe('enqueueBatch', () => {
      test('a batch of 100 with 5 failing resolves with 95 results and 5 errors, in order; onComplete and onFailure run once', async () => {
        const tasks = Array.from({ length: 100 }, (_, i) => (i % 20 === 7 ? new Fail({ why: `bad row ${i}` }) : new Add({ a: i, b: 0 })));
        const onComplete = new Collect({ tag: 'complete' });
        const onFailure = new Collect({ tag: 'failure' });
        const { batch, callbacks, progress } = await withWorkers(async () => {
          const result = await dispatcher.enqueueBatch(tasks, { wait: true, waitTimeout: 60_000, onComplete, onFailure });
          const callbackEntries = await ended([onComplete.id, onFailure.id]);
          return { batch: result, callbacks: callbackEntries, progress: await dispatcher.batchProgress(result.id) };
        }, 2);
        expect(batch.outcomes).toHaveLength(100);
        batch.outcomes.forEach((outcome, i) => {
          expect(outcome.taskId).toBe(tasks[i].id);
          if (i % 20 === 7) expect(outcome).toMatchObject({ ok: false, error: { status: TaskStatus.Failed, message: `bad row ${i}` } });
          else expect(outcome).toEqual({ taskId: tasks[i].id, ok: true, result: i });
        });
        expect(batch.outcomes.filter((outcome) => outcome.ok)).toHaveLength(95);
        expect(callbacks.map((entry) => entry.status)).toEqual([TaskStatus.Completed, TaskStatus.Completed]);
        expect(Collect.runs.map((run) => run.tag).sort()).toEqual(['complete', 'failure']);
        const handed = Collect.runs[0].previousResult as unknown as BatchResultJson;
        expect(handed).toMatchObject({ batchId: batch.id, total: 100, completed: 95, failed: 5 });
        expect(handed.outcomes[7]).toEqual({ taskId: tasks[7].id, ok: false, status: TaskStatus.Failed, error: 'bad row 7' });
        expect(handed.outcomes[8]).toEqual({ taskId: tasks[8].id, ok: true, result: 8 });
        expect(progress).toEqual({ id: batch.id, status: TaskStatus.Failed, total: 100, done: 100, completed: 95, failed: 5 });
        const parent = await dispatcher.taskLog.get(batch.id);
        expect(parent).toMatchObject({ taskName: 'taskq:batch', status: TaskStatus.Failed, label: 'Batch of 100 tasks', report: { message: '5 child task(s) did not complete' } });
        // The batch's entry shows n of m done.
        expect(parent?.progress).toEqual({ total: 100, done: 100, completed: 95, failed: 5 });
        expect(await dispatcher.taskLog.count(new TaskLogFilter().eq('parentId', batch.id))).toBe(100);
      });

      test('a batch that completes runs onComplete and cancels onFailure as not needed; the wait can be left out', async () => {
        const tasks = [new Add({ a: 1, b: 2 }), new Double({}), new Slow({ ms: 50, result: 's' })];
        const onComplete = new Collect({ tag: 'complete' });
        const onFailure = new Collect({ tag: 'failure' });
        const [batchEntry, complete, failure] = await withWorkers(async () => {
          // Double of nothing is NaN, stored as null: a completed run all the same.
          const batch = await dispatcher.enqueueBatch(tasks, { onComplete, onFailure, label: 'nightly' });
          expect(batch.outcomes).toBeUndefined();
          return ended([batch.id, onComplete.id, onFailure.id]);
        });
        expect(batchEntry).toMatchObject({ status: TaskStatus.Completed, label: 'nightly' });
        expect((await dispatcher.taskLog.get(batchEntry.id))?.progress).toEqual({ total: 3, done: 3, completed: 3, failed: 0 });
        expect(complete.status).toBe(TaskStatus.Completed);
        expect(failure).toMatchObject({ status: TaskStatus.Cancelled, attempts: 0 });
        expect(failure.report?.message).toBe(`Not needed: ${batchEntry.id} (taskq:batch) completed`);
        expect(Collect.runs.map((run) => run.tag)).toEqual(['complete']);
      });

      test('an empty batch ends at once and still runs onComplete', async () => {
        const onComplete = new Collect({ tag: 'complete' });
        const [batchEntry, complete] = await withWorkers(async () => {
          const batch = await dispatcher.enqueueBatch([], { onComplete });
          return ended([batch.id, onComplete.id]);
        });
        expect(batchEntry.status).toBe(TaskStatus.Completed);
        expect(complete).toMatchObject({ status: TaskStatus.Completed, report: { data: { total: 0, completed: 0, failed: 0, outcomes: [] } } });
      });

      test('refuses a task given twice, a task that has a parent, and options it cannot take, writing nothing', async () => {
        const task = new Add({ a: 1, b: 1 });
        await expect(dispatcher.enqueueBatch([task, task])).rejects.toThrow('enqueueBatch() got the same task');
        await expect(dispatcher.enqueueBatch([new Add({ a: 1, b: 1 })], { after: ['x'] } as never)).rejects.toThrow('enqueueBatch() cannot take after');
        await expect(dispatcher.enqueueBatch([new Add({ a: 1, b: 1 })], { waitTimeout: 10 })).rejects.toThrow('option waitTimeout goes with wait');
        await expect(dispatcher.enqueueBatch([new Add({ a: 1, b: 1 })], { uniqueKey: 'k' } as never)).rejects.toThrow('enqueueBatch() cannot take uniqueKey');
        const child = new Add({ a: 1, b: 1 });
        child.parentId = 'someone';
        await expect(dispatcher.enqueueBatch([child])).rejects.toThrow('already has a parent (someone)');
        expect(await dispatcher.taskLog.count()).toBe(0);
      });
    });
  });
}
