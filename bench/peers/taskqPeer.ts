import { AbstractTask, Queue, QueueDispatcher, RdsQueueBroker, RdsTaskLogBroker, TaskLog, Worker, silentLogger } from '../../src';
import type { JobPayload, JobRan, Peer, QueueTally, RunningWorker, SqlRunner } from './peer';
import { QUEUE, type TaskqSettings } from './variants';

/** Where the running worker's jobs report; set by startWorker (one worker per process). */
let jobSink: JobRan | undefined;

/** The no-op job: notes that it ran, returns undefined. */
class PeerNoop extends AbstractTask<JobPayload> {
  static override taskName = 'PeerNoop';

  run(): undefined {
    jobSink?.(this.params);
    return undefined;
  }
}

/**
 * taskq on PostgreSQL or MariaDB (whichever `url` names): an RdsQueueBroker and an
 * RdsTaskLogBroker on the same database (task log on, as a deployment has it), so an enqueue
 * writes the log entry and the message together. Tables taskq_messages and taskq_task_log.
 */
export class TaskqPeer implements Peer {
  private readonly broker: RdsQueueBroker;
  private readonly logBroker: RdsTaskLogBroker;
  private readonly dispatcher: QueueDispatcher;

  constructor(
    url: string,
    private readonly settings: TaskqSettings,
  ) {
    this.broker = new RdsQueueBroker({ connection: url, receive: settings.receive });
    this.logBroker = new RdsTaskLogBroker({ connection: url });
    this.dispatcher = new QueueDispatcher({
      queues: [new Queue(QUEUE, this.broker)],
      taskLog: new TaskLog(this.logBroker),
      tasks: [PeerNoop],
      logger: silentLogger,
    });
  }

  async install(): Promise<void> {
    await this.dispatcher.initialize();
  }

  async reset(sql: SqlRunner): Promise<void> {
    // One table per statement: MariaDB's TRUNCATE takes one.
    await sql.query(`TRUNCATE TABLE ${this.broker.table}`);
    await sql.query(`TRUNCATE TABLE ${this.logBroker.table}`);
  }

  async enqueueOne(payload: JobPayload): Promise<void> {
    await this.dispatcher.enqueue(new PeerNoop(payload));
  }

  async enqueueBulk(payloads: readonly JobPayload[]): Promise<void> {
    await this.dispatcher.enqueueMany(payloads.map((p) => new PeerNoop(p)));
  }

  async tally(sql: SqlRunner): Promise<QueueTally> {
    const log = this.logBroker.table;
    const messages = this.broker.table;
    // A job is finished when its log entry says completed and its message is gone (acknowledged).
    const [row] = await sql.query<{ completed: string; unfinished: string }>(
      `SELECT (SELECT count(*) FROM ${log} WHERE status = 'completed') AS completed,
              (SELECT count(*) FROM ${log} WHERE status <> 'completed')
            + (SELECT count(*) FROM ${messages} m JOIN ${log} l ON l.id = m.task_id WHERE l.status = 'completed') AS unfinished`,
    );
    return { completed: Number(row.completed), unfinished: Number(row.unfinished) };
  }

  async connectWorker(): Promise<void> {
    // Idempotent (the tables are there): it opens the connection pool before the clock starts.
    await this.dispatcher.initialize();
  }

  async startWorker(concurrency: number, onJob: JobRan): Promise<RunningWorker> {
    jobSink = onJob;
    const worker = new Worker(this.dispatcher, { concurrency, prefetch: this.settings.prefetch, ...(this.settings.claimAhead === undefined ? {} : { claimAhead: this.settings.claimAhead }), logger: silentLogger });
    const running = worker.run();
    return {
      stop: async () => {
        await worker.stop();
        await running;
        jobSink = undefined;
      },
    };
  }

  async close(): Promise<void> {
    await this.dispatcher.close();
  }
}
