/**
 * The scenarios every queue broker must pass (DESIGN.md, "Conformance"). A broker file calls
 * `describeBrokerConformance` with a factory; the same expectations then hold for memory, SQLite,
 * and the servers later issues add.
 */
import { CallbackTask, Queue, QueueDispatcher, defineCallback, Report, TaskLog, TaskStatus, Worker, silentLogger, type QueueBroker, type ReceivedMessage, type TaskLogBroker } from '../../src';
import { taskMessageBody } from '../helpers/messages';
import { RecordRun, Sleep, runs } from '../helpers/tasks';
import { wait } from '../helpers/wait';

export interface BrokerUnderTest {
  queueBroker: QueueBroker;
  /** A second broker on the same storage (another "process"), when the broker has storage to share. */
  second?: QueueBroker;
  taskLogBroker: TaskLogBroker;
  /**
   * The lease or delay the timing tests use, at least the shortest the broker keeps to (SQS
   * counts whole seconds); default 1 s.
   */
  leaseMs?: number;
  /**
   * True where a message released with a delay stays in flight, as SQS keeps it (countLeased
   * counts it until it is visible again).
   */
  delayedReleaseIsLeased?: boolean;
  /**
   * True where countLeased may still count a lease that ran out until the broker next looks at
   * the message (SQS's approximate counts). Never fewer: initialize-queue --broker waits longer.
   */
  leasedCountLags?: boolean;
  /**
   * FIFO queues: one message of a group in flight at a time, and no delay per message. The
   * scenarios give every message a group of its own (other brokers ignore groups) and skip delays.
   */
  fifo?: boolean;
  cleanup(): Promise<void>;
}

const msg = (taskId: string, body = `{"t":"${taskId}"}`) => ({ taskId, body, groupId: taskId });

export function describeBrokerConformance(name: string, make: () => Promise<BrokerUnderTest>): void {
  describe(`${name} broker conformance`, () => {
    let sut: BrokerUnderTest;
    let broker: QueueBroker;
    let q: string;
    let n = 0;
    // A second, not less: the tests check that a message stays hidden for the lease, and with
    // both cores busy in CI two round trips once took longer than a 200 ms lease on PostgreSQL
    // (a task pushed 200 ms ahead was rightly due before the receive ran).
    let lease = 1_000;

    beforeEach(async () => {
      sut = await make();
      broker = sut.queueBroker;
      lease = sut.leaseMs ?? 1_000;
      q = `conformance_${++n}`;
      await broker.createContainer(q);
      runs.clear();
    });

    afterEach(async () => {
      await sut.cleanup();
    });

    test('push, receive, acknowledge', async () => {
      await broker.push(q, msg('a', 'hello'));
      expect(await broker.count(q)).toBe(1);
      const [m] = await broker.receive(q, 10, 5_000);
      expect(m).toMatchObject({ taskId: 'a', body: 'hello', receiveCount: 1 });
      expect(await broker.receive(q, 10, 5_000)).toEqual([]);
      await broker.acknowledge(q, m);
      expect(await broker.count(q)).toBe(0);
    });

    test('pushMany and receive at most N', async () => {
      await broker.pushMany(q, Array.from({ length: 7 }, (_, i) => msg(`t${i}`)));
      const first = await broker.receive(q, 5, 5_000);
      const second = await broker.receive(q, 5, 5_000);
      expect(first).toHaveLength(5);
      expect(second).toHaveLength(2);
      expect(new Set([...first, ...second].map((m) => m.taskId)).size).toBe(7);
    });

    test('keeps order within a queue', async () => {
      for (let i = 0; i < 5; i++) await broker.push(q, msg(`p${i}`));
      await broker.pushMany(q, Array.from({ length: 5 }, (_, i) => msg(`b${i}`)));
      const got = [];
      for (let i = 0; i < 10; i++) got.push(...(await broker.receive(q, 1, 5_000)));
      expect(got.map((m) => m.taskId)).toEqual(['p0', 'p1', 'p2', 'p3', 'p4', 'b0', 'b1', 'b2', 'b3', 'b4']);
    });

    test('queues are separate', async () => {
      const other = `${q}_other`;
      await broker.createContainer(other);
      await broker.push(q, msg('mine'));
      await broker.push(other, msg('theirs'));
      expect((await broker.receive(q, 10, 5_000)).map((m) => m.taskId)).toEqual(['mine']);
      expect(await broker.count(other)).toBe(1);
      await broker.purge(other);
    });

    test('an expired lease makes the message visible again', async () => {
      await broker.push(q, msg('x'));
      const [first] = await broker.receive(q, 1, lease);
      expect(await broker.receive(q, 1, lease)).toEqual([]);
      await wait(lease + 100);
      const [again] = await broker.receive(q, 1, 5_000);
      expect(again.taskId).toBe('x');
      expect(again.receiveCount).toBe(first.receiveCount + 1);
    });

    test('extendLease keeps a message hidden past its first lease', async () => {
      await broker.push(q, msg('x'));
      const [m] = await broker.receive(q, 1, lease);
      await wait(lease / 2);
      await broker.extendLease(q, [m], 2_000);
      await wait(lease);
      expect(await broker.receive(q, 1, 5_000)).toEqual([]);
    });

    test('release makes a message visible again, after its delay', async () => {
      await broker.push(q, msg('x'));
      const [m] = await broker.receive(q, 1, 5_000);
      await broker.release(q, m, 0);
      const [again] = await broker.receive(q, 1, 5_000);
      expect(again.taskId).toBe('x');
      await broker.release(q, again, lease);
      expect(await broker.receive(q, 1, 5_000)).toEqual([]);
      await wait(lease + 300);
      expect((await broker.receive(q, 1, 5_000)).map((r) => r.taskId)).toEqual(['x']);
    });

    test('a stale delivery cannot acknowledge or release a newer one', async () => {
      await broker.push(q, msg('x'));
      const [stale] = await broker.receive(q, 1, lease);
      await wait(lease + 100);
      const [fresh] = await broker.receive(q, 1, 5_000);
      await broker.acknowledge(q, stale);
      await broker.release(q, stale, 0);
      expect(await broker.count(q)).toBe(1);
      expect(await broker.receive(q, 1, 5_000)).toEqual([]);
      await broker.acknowledge(q, fresh);
      expect(await broker.count(q)).toBe(0);
    });

    test('runAt: not delivered before its time', async () => {
      if (sut.fifo) return;
      await broker.push(q, { ...msg('later'), runAt: Date.now() + lease });
      await broker.push(q, msg('now'));
      expect((await broker.receive(q, 10, 5_000)).map((m) => m.taskId)).toEqual(['now']);
      await wait(lease + 300);
      expect((await broker.receive(q, 10, 5_000)).map((m) => m.taskId)).toEqual(['later']);
    });

    test('receiveDelayed (where a broker has it) hands out delayed messages with their run-at time', async () => {
      if (!broker.receiveDelayed) return;
      const runAt = Date.now() + 60_000;
      await broker.pushMany(q, [msg('now'), { ...msg('later'), runAt }]);
      const [leased] = await broker.receive(q, 1, 5_000);
      expect(leased.taskId).toBe('now');
      const delayed = await broker.receiveDelayed(q, 10);
      // SQL brokers keep the delay on the database's clock: the run-at time comes back within a few ms.
      expect(delayed.map((m) => m.taskId)).toEqual(['later']);
      expect(Math.abs((delayed[0].runAt as number) - runAt)).toBeLessThan(50);
      await broker.acknowledge(q, delayed[0]);
      expect(await broker.count(q)).toBe(1);
    });

    test('count includes leased and delayed messages; purge empties the queue', async () => {
      await broker.pushMany(q, [msg('a'), msg('b'), sut.fifo ? msg('c') : { ...msg('c'), runAt: Date.now() + 60_000 }]);
      await broker.receive(q, 1, 5_000);
      expect(await broker.count(q)).toBe(3);
      expect(await broker.purge(q)).toBe(3);
      expect(await broker.count(q)).toBe(0);
      expect(await broker.receive(q, 10, 5_000)).toEqual([]);
    });

    test('countLeased counts only messages held under a live lease', async () => {
      const later = sut.fifo ? [] : [{ ...msg('later'), runAt: Date.now() + 60_000 }];
      await broker.pushMany(q, [msg('a'), msg('b'), msg('c'), msg('d'), ...later]);
      expect(await broker.countLeased(q)).toBe(0);
      const [a, b, c] = await broker.receive(q, 3, 5_000);
      expect(await broker.countLeased(q)).toBe(3);
      expect(await broker.count(q)).toBe(4 + later.length);
      await broker.release(q, a, 0);
      await broker.release(q, b, 60_000);
      const delayedLeased = sut.delayedReleaseIsLeased ? 1 : 0;
      expect(await broker.countLeased(q)).toBe(1 + delayedLeased);
      await broker.acknowledge(q, c);
      expect(await broker.countLeased(q)).toBe(delayedLeased);
      // a and d are waiting, b and later delayed: none of them leased.
      expect(await broker.count(q)).toBe(3 + later.length);
      const again = await broker.receive(q, 10, lease);
      expect(again.map((m) => m.taskId).sort()).toEqual(['a', 'd']);
      expect(await broker.countLeased(q)).toBe(2 + delayedLeased);
      await wait(lease + 100);
      // Expired leases are not held any more: the messages are waiting again.
      if (!sut.leasedCountLags) expect(await broker.countLeased(q)).toBe(delayedLeased);
      expect(await broker.count(q)).toBe(3 + later.length);
      expect(await broker.receive(q, 10, 5_000)).toHaveLength(2);
      expect(await broker.countLeased(q)).toBe(2 + delayedLeased);
    });

    test('two consumers never receive the same message under one lease', async () => {
      const other = sut.second ?? broker;
      await broker.pushMany(q, Array.from({ length: 200 }, (_, i) => msg(`m${i}`)));
      const seen: ReceivedMessage[] = [];
      await Promise.all(
        [broker, other, broker, other].map(async (b) => {
          for (;;) {
            const got = await b.receive(q, 7, 30_000);
            if (got.length === 0) return;
            seen.push(...got);
          }
        }),
      );
      expect(seen).toHaveLength(200);
      expect(new Set(seen.map((m) => m.taskId)).size).toBe(200);
    });

    describe('with a dispatcher and workers', () => {
      let dispatcher: QueueDispatcher;

      beforeEach(() => {
        dispatcher = new QueueDispatcher({
          queues: [new Queue(q, broker)],
          taskLog: new TaskLog(sut.taskLogBroker),
          tasks: [RecordRun, Sleep],
          logger: silentLogger,
        });
        return dispatcher.initialize();
      });

      test('concurrent workers never both run one task', async () => {
        const tasks = await dispatcher.enqueueMany(Array.from({ length: 120 }, (_, i) => new RecordRun({ n: i })));
        // A duplicate delivery of every tenth task, as at-least-once brokers may do.
        await broker.pushMany(q, tasks.filter((_, i) => i % 10 === 0).map((t) => ({ taskId: t.id, body: taskMessageBody({ id: t.id, name: 'RecordRun', params: { n: -1 } }) })));
        // A duplicate that arrives while its twin runs is put back until the twin's lease would end.
        const workers = [0, 1, 2].map(() => new Worker(dispatcher, { concurrency: 4, leaseMs: 1_000, idleMaxMs: 50, logger: silentLogger }));
        const done = Promise.all(workers.map((w) => w.run()));
        for (let i = 0; i < 400 && ((await dispatcher.taskLog.getStats()).completed < 120 || (await broker.count(q)) > 0); i++) await wait(25);
        await Promise.all(workers.map((w) => w.stop()));
        await done;
        expect([...runs.values()].every((count) => count === 1)).toBe(true);
        expect(runs.size).toBe(120);
        expect((await dispatcher.taskLog.getStats()).completed).toBe(120);
        expect(await broker.count(q)).toBe(0);
      });

      test('an undecodable message ends failed with its raw payload kept', async () => {
        await broker.push(q, { taskId: 'garbage-1', body: 'this is {not json' });
        const stats = await new Worker(dispatcher, { limit: 1, leaseMs: 5_000, logger: silentLogger }).run();
        expect(stats.failed).toBe(1);
        const [entry] = await dispatcher.taskLog.search();
        expect(entry.status).toBe(TaskStatus.Failed);
        expect(entry.report?.message).toMatch(/could not be decoded/);
        expect(entry.report?.data).toMatchObject({ rawPayload: 'this is {not json' });
        expect(await broker.count(q)).toBe(0);
      });

      test('an unknown task ends failed, naming the registered tasks', async () => {
        const body = taskMessageBody({ id: 'unknown-1', name: 'DropTables', label: 'x' });
        await broker.push(q, { taskId: 'unknown-1', body });
        await new Worker(dispatcher, { limit: 1, leaseMs: 5_000, unknownTaskGraceMs: 0, logger: silentLogger }).run();
        const entry = await dispatcher.taskLog.get('unknown-1');
        expect(entry?.status).toBe(TaskStatus.Failed);
        expect(entry?.report?.message).toMatch(/"DropTables" is not registered; registered tasks: .*RecordRun.*Sleep/);
        expect(entry?.report?.data).toMatchObject({ rawPayload: body });
      });

      test('a task whose worker stopped renewing is run again after its lease, once', async () => {
        const task = await dispatcher.enqueue(new RecordRun({ n: 1 }));
        // A worker that received the task and died: the message lease and the log lease lapse.
        const [m] = await broker.receive(q, 1, lease);
        await dispatcher.taskLog.claim(task.id, 'dead-worker', lease);
        expect(m.taskId).toBe(task.id);
        await wait(lease + 150);
        await new Worker(dispatcher, { limit: 1, leaseMs: 5_000, logger: silentLogger }).run();
        const entry = await dispatcher.taskLog.get(task.id);
        expect(entry).toMatchObject({ status: TaskStatus.Completed, attempts: 2 });
        expect(runs.get(task.id)).toBe(1);
        expect(await broker.count(q)).toBe(0);
      });

      test('a completed or cancelled task delivered again is acknowledged, not run', async () => {
        const done = await dispatcher.enqueue(new RecordRun({ n: 1 }));
        const cancelled = await dispatcher.enqueue(new RecordRun({ n: 2 }));
        await dispatcher.taskLog.cancel(cancelled.id);
        await new Worker(dispatcher, { limit: 1, leaseMs: 5_000, idleMaxMs: 50, logger: silentLogger }).run();
        expect(runs.get(done.id)).toBe(1);
        expect(runs.has(cancelled.id)).toBe(false);
        expect(await dispatcher.taskLog.getStatus(cancelled.id)).toBe(TaskStatus.Cancelled);
        // Deliver the completed one again.
        await broker.push(q, { taskId: done.id, body: taskMessageBody({ id: done.id, name: 'RecordRun', params: { n: 1 } }) });
        const worker = new Worker(dispatcher, { leaseMs: 5_000, idleMaxMs: 50, logger: silentLogger });
        const running = worker.run();
        for (let i = 0; i < 100 && (await broker.count(q)) > 0; i++) await wait(20);
        await worker.stop();
        await running;
        expect(runs.get(done.id)).toBe(1);
        expect(await broker.count(q)).toBe(0);
      });

      test('a failing task is retried up to maxAttempts with its report kept', async () => {
        let calls = 0;
        dispatcher.registry.register(defineCallback('flaky', () => {
          calls++;
          if (calls < 3) throw new Error(`flaky failure ${calls}`);
          return Report.success('third time lucky');
        }));
        const task = await dispatcher.enqueue(CallbackTask.of('flaky'), { maxAttempts: 3, backoff: 20 });
        const stats = await new Worker(dispatcher, { limit: 3, leaseMs: 5_000, idleMaxMs: 50, logger: silentLogger }).run();
        expect(stats).toMatchObject({ retried: 2, completed: 1 });
        expect(await dispatcher.taskLog.get(task.id)).toMatchObject({ status: TaskStatus.Completed, attempts: 3, report: { message: 'third time lucky' } });
      });
    });
  });
}
