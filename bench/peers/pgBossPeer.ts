import PgBoss from 'pg-boss';
import type { JobPayload, JobRan, Peer, QueueTally, RunningWorker, SqlRunner } from './peer';
import { PG_BOSS_SCHEMA, tallyPgBossJobs } from './pgBossTally';
import { CONCURRENCY, type PgBossSettings, QUEUE } from './variants';

const SCHEMA = PG_BOSS_SCHEMA;

/**
 * pg-boss 10: jobs sent with `send` / `insert` to a queue made with `createQueue`; a worker
 * process runs one `work()` loop per unit of concurrency (pg-boss 10 has no teamSize or
 * localConcurrency: a loop fetches a batch, runs its handler, then waits out the polling
 * interval), each fetching `batchSize` jobs. It has no LISTEN/NOTIFY: an idle loop finds a new
 * job at its next poll.
 */
export class PgBossPeer implements Peer {
  private readonly boss: PgBoss;
  private started = false;

  constructor(
    url: string,
    private readonly settings: PgBossSettings,
  ) {
    // schedule: false, as no cron job is used (it would add a cron loop and a clock check per
    // process); pool as graphile-worker's, concurrency + 2.
    this.boss = new PgBoss({ connectionString: url, schema: SCHEMA, max: CONCURRENCY + 2, schedule: false });
    // An 'error' event without a listener would throw; pg-boss reports fetch and maintenance errors so.
    this.boss.on('error', (error) => console.error(`pg-boss error: ${error.message}`));
  }

  private async start(): Promise<void> {
    if (this.started) return;
    await this.boss.start();
    this.started = true;
  }

  async install(): Promise<void> {
    await this.start(); // creates the schema (its migrations)
    await this.boss.createQueue(QUEUE);
  }

  async reset(sql: SqlRunner): Promise<void> {
    // Completed jobs stay in the queue's partition of the job table until archived, and the
    // archive keeps them on. (pg-boss 10's deleteQueue fails while its partition has jobs.)
    await sql.query(`TRUNCATE ${SCHEMA}.job, ${SCHEMA}.archive`);
  }

  async enqueueOne(payload: JobPayload): Promise<void> {
    await this.boss.send(QUEUE, payload);
  }

  async enqueueBulk(payloads: readonly JobPayload[]): Promise<void> {
    await this.boss.insert(payloads.map((data) => ({ name: QUEUE, data })));
  }

  tally(sql: SqlRunner): Promise<QueueTally> {
    return tallyPgBossJobs(sql);
  }

  async connectWorker(): Promise<void> {
    await this.start();
  }

  async startWorker(concurrency: number, onJob: JobRan): Promise<RunningWorker> {
    const options = { batchSize: this.settings.batchSize, pollingIntervalSeconds: this.settings.pollingIntervalSeconds };
    for (let i = 0; i < concurrency; i++) {
      await this.boss.work<JobPayload>(QUEUE, options, async (jobs) => {
        for (const job of jobs) onJob(job.data);
      });
    }
    return {
      stop: async () => {
        // Graceful: waits for handlers under way; closes its pool.
        await this.boss.stop({ graceful: true, wait: true });
        this.started = false;
      },
    };
  }

  async close(): Promise<void> {
    if (this.started) await this.boss.stop({ graceful: false, wait: true });
    this.started = false;
  }
}
