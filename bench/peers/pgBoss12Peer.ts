import type { PgBoss } from 'pg-boss-latest' with { 'resolution-mode': 'import' };
import type { JobPayload, JobRan, Peer, QueueTally, RunningWorker, SqlRunner } from './peer';
import { PG_BOSS_SCHEMA, tallyPgBossJobs } from './pgBossTally';
import { CONCURRENCY, type PgBossSettings, QUEUE } from './variants';

const SCHEMA = PG_BOSS_SCHEMA;

/**
 * pg-boss 12 (the npm alias pg-boss-latest; it needs Node 22): jobs sent with `send` / `insert`
 * to a queue made with `createQueue({ notify: true })`; the instance runs with `useListenNotify`,
 * so a new job wakes an idle worker at once. A worker process makes one `work()` call with
 * `localConcurrency` loops, each fetching `batchSize` jobs; `burstWhenBatchFull` fetches again at
 * once after a full batch (its documented way to drain a backlog) instead of waiting out the
 * polling interval.
 */
export class PgBoss12Peer implements Peer {
  private boss?: PgBoss;
  private started = false;

  constructor(
    private readonly url: string,
    private readonly settings: PgBossSettings,
  ) {}

  private async instance(): Promise<PgBoss> {
    if (!this.boss) {
      const { PgBoss: Boss } = await import('pg-boss-latest');
      // schedule: false, as no cron job is used; pool as graphile-worker's, concurrency + 2.
      const boss = new Boss({ connectionString: this.url, schema: SCHEMA, max: CONCURRENCY + 2, schedule: false, useListenNotify: true });
      // An 'error' event without a listener would throw; pg-boss reports fetch and maintenance errors so.
      boss.on('error', (error: Error) => console.error(`pg-boss error: ${error.message}`));
      this.boss = boss;
    }
    return this.boss;
  }

  private async start(): Promise<PgBoss> {
    const boss = await this.instance();
    if (!this.started) {
      await boss.start();
      this.started = true;
    }
    return boss;
  }

  async install(): Promise<void> {
    const boss = await this.start(); // creates the schema (its migrations)
    await boss.createQueue(QUEUE, { notify: true });
  }

  async reset(sql: SqlRunner): Promise<void> {
    // Completed jobs stay in the job table until retention deletes them (pg-boss 11+ has no archive).
    await sql.query(`TRUNCATE ${SCHEMA}.job`);
  }

  async enqueueOne(payload: JobPayload): Promise<void> {
    await (await this.start()).send(QUEUE, payload);
  }

  async enqueueBulk(payloads: readonly JobPayload[]): Promise<void> {
    await (await this.start()).insert(
      QUEUE,
      payloads.map((data) => ({ data })),
    );
  }

  tally(sql: SqlRunner): Promise<QueueTally> {
    return tallyPgBossJobs(sql);
  }

  async connectWorker(): Promise<void> {
    await this.start();
  }

  async startWorker(concurrency: number, onJob: JobRan): Promise<RunningWorker> {
    const boss = await this.start();
    await boss.work<JobPayload>(
      QUEUE,
      { localConcurrency: concurrency, batchSize: this.settings.batchSize, pollingIntervalSeconds: this.settings.pollingIntervalSeconds, burstWhenBatchFull: true },
      async (jobs) => {
        for (const job of jobs) onJob(job.data);
      },
    );
    return {
      stop: async () => {
        // Graceful: waits for handlers under way; closes its pool.
        await boss.stop({ graceful: true });
        this.started = false;
      },
    };
  }

  async close(): Promise<void> {
    if (this.started) await this.boss?.stop({ graceful: false });
    this.started = false;
  }
}
