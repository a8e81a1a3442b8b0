/**
 * Wake-ups without polling on PostgreSQL (LISTEN/NOTIFY): an idle worker whose next poll is a
 * minute away starts a task pushed by another process at once, a delayed one when it is due, and
 * keeps doing so after its LISTEN connection is killed.
 */
import { Client } from 'pg';
import { AbstractTask, InMemoryTaskLogBroker, Queue, QueueDispatcher, RdsQueueBroker, RdsTaskLogBroker, TaskLog, Worker, silentLogger, type TaskLogBroker } from '../../src';
import { usePostgresDatabase } from '../helpers/postgres';
import { until, wait } from '../helpers/wait';

/** When each task started, by id. */
const started = new Map<string, number>();

class Stamp extends AbstractTask<Record<string, never>> {
  static override taskName = 'Stamp';
  run() {
    started.set(this.id, Date.now());
  }
}

const connection = usePostgresDatabase('listen');
/** The worker's next poll, were nothing to wake it: far beyond every wait below. */
const POLL_MS = 60_000;

if (connection) {
  let n = 0;

  /**
   * The worker's dispatcher and another one, standing for another process: the in-process wake
   * of a dispatcher's own enqueue does not reach the worker, only NOTIFY does.
   */
  function setup(options: { notify?: boolean; sharedLog?: boolean } = {}) {
    const table = `messages_${++n}`;
    const logTable = `task_log_${n}`;
    const make = () => {
      const broker = new RdsQueueBroker({ connection, table, notify: options.notify });
      const logBroker: TaskLogBroker = options.sharedLog ? new RdsTaskLogBroker({ connection, table: logTable }) : new InMemoryTaskLogBroker();
      return new QueueDispatcher({ queues: [new Queue('q', broker), new Queue('other', broker)], taskLog: new TaskLog(logBroker), tasks: [Stamp], logger: silentLogger });
    };
    const workerSide = make();
    const producer = make();
    return { workerSide, producer };
  }

  async function finish(worker: Worker, running: Promise<unknown>, ...dispatchers: QueueDispatcher[]) {
    await worker.stop();
    await running;
    for (const dispatcher of dispatchers) await dispatcher.close();
  }

  async function idleWorker(dispatcher: QueueDispatcher, queue = 'q') {
    await dispatcher.initialize();
    const worker = new Worker(dispatcher, { queue, idleMinMs: POLL_MS, idleMaxMs: POLL_MS, logger: silentLogger });
    const running = worker.run();
    // Past its first (empty) receive: asleep until its next poll.
    await wait(200);
    return { worker, running };
  }

  test.each([
    ['queue and log in one database (the atomic enqueue)', true],
    ['the log elsewhere', false],
  ])('an idle worker starts a task another process pushes at once: %s', async (_name, sharedLog) => {
    const { workerSide, producer } = setup({ sharedLog });
    const { worker, running } = await idleWorker(workerSide);
    try {
      await producer.initialize();
      const pushedAt = Date.now();
      const task = await producer.enqueue(new Stamp({}));
      await until(() => started.has(task.id), 5_000, 'the task started');
      expect((started.get(task.id) as number) - pushedAt).toBeLessThan(5_000);
    } finally {
      await finish(worker, running, workerSide, producer);
    }
  });

  test('a delayed task wakes the idle worker when it becomes due, not before', async () => {
    const { workerSide, producer } = setup();
    const { worker, running } = await idleWorker(workerSide);
    try {
      const pushedAt = Date.now();
      const task = await producer.enqueue(new Stamp({}), { delay: 800 });
      await until(() => started.has(task.id), 10_000, 'the delayed task started');
      const after = (started.get(task.id) as number) - pushedAt;
      expect(after).toBeGreaterThanOrEqual(790);
      expect(after).toBeLessThan(10_000);
    } finally {
      await finish(worker, running, workerSide, producer);
    }
  });

  test('a push to another queue does not wake a worker of one queue', async () => {
    const { workerSide, producer } = setup();
    const broker = workerSide.getQueue('q').broker;
    let receives = 0;
    const receive = broker.receive.bind(broker);
    broker.receive = (...args) => {
      receives++;
      return receive(...args);
    };
    const { worker, running } = await idleWorker(workerSide, 'q');
    try {
      expect(receives).toBe(1);
      await producer.enqueue(new Stamp({}), { queue: 'other' });
      await wait(300);
      expect(receives).toBe(1);
      const onQ = await producer.enqueue(new Stamp({}));
      await until(() => started.has(onQ.id), 5_000, 'the task of q started');
      expect(receives).toBeGreaterThan(1);
    } finally {
      await finish(worker, running, workerSide, producer);
    }
  });

  test('with notify off, the worker waits for its poll (and nothing is sent)', async () => {
    const { workerSide, producer } = setup({ notify: false });
    const { worker, running } = await idleWorker(workerSide);
    try {
      const task = await producer.enqueue(new Stamp({}));
      await wait(1_000);
      expect(started.has(task.id)).toBe(false);
    } finally {
      await finish(worker, running, workerSide, producer);
    }
  });

  test('a LISTEN connection killed by the server is made again, and wake-ups go on', async () => {
    const { workerSide, producer } = setup();
    const warnings: string[] = [];
    await workerSide.initialize();
    const logger = { ...silentLogger, warn: (message: string) => void warnings.push(message) };
    const worker = new Worker(workerSide, { queue: 'q', idleMinMs: POLL_MS, idleMaxMs: POLL_MS, logger });
    const running = worker.run();
    const admin = new Client({ connectionString: connection });
    await admin.connect();
    try {
      await wait(200);
      const killed = await admin.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND query LIKE 'LISTEN%' AND pid <> pg_backend_pid()`);
      expect(killed.rowCount).toBe(1);
      await until(() => warnings.some((w) => /LISTEN connection .* reconnecting/.test(w)), 5_000, 'the loss logged');
      // Back to listening: a new LISTEN session shows in pg_stat_activity.
      await until(async () => (await admin.query(`SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND query LIKE 'LISTEN%'`)).rowCount === 1, 10_000, 'listening again');
      const task = await producer.enqueue(new Stamp({}));
      await until(() => started.has(task.id), 5_000, 'the task started after the reconnection');
    } finally {
      await admin.end();
      await finish(worker, running, workerSide, producer);
    }
  });
}
