import { Pool } from 'pg';
import type { GraphileWorkerBinding, GraphileWorkerUtils } from './graphileWorkerBinding';
import { type JobPayload, type JobRan, type Peer, type QueueTally, type RunningWorker, type SqlRunner, isJobPayload } from './peer';
import { CONCURRENCY, type GraphileWorkerSettings, QUEUE } from './variants';

/** graphile-worker's default schema; its tables are _private_jobs, _private_job_queues, … there. */
const SCHEMA = 'graphile_worker';
/** Its `pollInterval` (default 2000 ms): new jobs arrive by LISTEN/NOTIFY; the poll is the safety net, as taskq's idleMaxMs (1000 ms) is. */
const POLL_INTERVAL_MS = 1000;

/**
 * graphile-worker (0.17 or 0.18, whichever `binding` is): jobs added with WorkerUtils (addJob /
 * addJobs), a `run()` runner per worker process with `concurrency` jobs at a time. With
 * `localQueueSize` set, its batched mode: the pool locks up to that many jobs per fetch and
 * batches completions.
 */
export class GraphileWorkerPeer implements Peer {
  private utils?: GraphileWorkerUtils;
  private pool?: Pool;

  constructor(
    private readonly binding: GraphileWorkerBinding,
    private readonly url: string,
    private readonly settings: GraphileWorkerSettings,
  ) {}

  private get workerUtils(): GraphileWorkerUtils {
    if (!this.utils) throw new Error('graphile-worker: install() first');
    return this.utils;
  }

  async install(): Promise<void> {
    this.utils = await this.binding.makeWorkerUtils(this.url, SCHEMA);
    await this.utils.migrate();
  }

  async reset(sql: SqlRunner): Promise<void> {
    // Completed jobs are deleted; this also clears the failed or locked ones an aborted run left.
    await sql.query(`TRUNCATE ${SCHEMA}._private_jobs, ${SCHEMA}._private_job_queues`);
  }

  async enqueueOne(payload: JobPayload): Promise<void> {
    await this.workerUtils.addJob(QUEUE, payload);
  }

  async enqueueBulk(payloads: readonly JobPayload[]): Promise<void> {
    await this.workerUtils.addJobs(payloads.map((payload) => ({ identifier: QUEUE, payload })));
  }

  async tally(sql: SqlRunner): Promise<QueueTally> {
    const [row] = await sql.query<{ n: string }>(`SELECT count(*) AS n FROM ${SCHEMA}._private_jobs`);
    return { completed: null, unfinished: Number(row.n) };
  }

  async connectWorker(): Promise<void> {
    // Its documented pool size: "10 or concurrentJobs + 2, whichever is larger" (the LISTEN
    // connection comes out of the pool).
    this.pool = new Pool({ connectionString: this.url, max: Math.max(10, CONCURRENCY + 2) });
    // Handlers of our own, as graphile-worker asks of a pool it is given: an idle client's error
    // (the database dropped under it) would otherwise crash the process.
    this.pool.on('error', (error) => console.error(`graphile-worker pool: ${error.message}`));
    this.pool.on('connect', (client) => client.on('error', (error) => console.error(`graphile-worker client: ${error.message}`)));
    await this.pool.query('SELECT 1');
  }

  async startWorker(concurrency: number, onJob: JobRan): Promise<RunningWorker> {
    if (!this.pool) throw new Error('graphile-worker: connectWorker() first');
    const runner = await this.binding.run({
      pgPool: this.pool,
      schema: SCHEMA,
      concurrency,
      pollInterval: POLL_INTERVAL_MS,
      localQueueSize: this.settings.localQueueSize,
      taskList: {
        [QUEUE]: (payload: unknown) => {
          if (!isJobPayload(payload)) throw new Error(`graphile-worker: unexpected payload ${JSON.stringify(payload)}`);
          onJob(payload);
        },
      },
    });
    return { stop: () => runner.stop() };
  }

  async close(): Promise<void> {
    await this.utils?.release();
    this.utils = undefined;
    await this.pool?.end();
    this.pool = undefined;
  }
}
