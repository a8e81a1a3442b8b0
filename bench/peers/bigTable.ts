/**
 * `node dist/bench/peers/bigTable.js`: does the claim stay fast when the tables hold a million
 * finished tasks? taskq's PostgreSQL drain (one worker, concurrency 10, receive 50) on an empty
 * throwaway database (on a throwaway server, or TASKQ_BENCH_PG_URL's: see pgTarget.ts), then again after 1,000,000 completed task-log rows were added and
 * 1,000,000 messages inserted and deleted (the claim index's dead entries; measured before and
 * after a VACUUM, which autovacuum would run). Prints tasks/s for each and the claim's plan.
 */
import { AbstractTask, Queue, QueueDispatcher, RdsQueueBroker, RdsTaskLogBroker, TaskLog, Worker, silentLogger } from '../../src';
import { PgTarget } from './pgTarget';

const TASKS = 20_000;
const ROWS = 1_000_000;

class Noop extends AbstractTask<Record<string, never>> {
  static override taskName = 'Noop';
  run(): void {
    // Nothing: the claim and the bookkeeping are what is measured.
  }
}

async function drain(dispatcher: QueueDispatcher): Promise<number> {
  for (let i = 0; i < TASKS; i += 1_000) await dispatcher.enqueueMany(Array.from({ length: 1_000 }, () => new Noop({})));
  const started = performance.now();
  const stats = await new Worker(dispatcher, { concurrency: 10, prefetch: 40, limit: TASKS, logger: silentLogger }).run();
  if (stats.completed !== TASKS) throw new Error(`${stats.completed} of ${TASKS} completed`);
  return Math.round(TASKS / ((performance.now() - started) / 1000));
}

async function main(): Promise<void> {
  const target = await PgTarget.open((message) => console.error(message));
  const { db } = target;
  const dispatcher = new QueueDispatcher({
    queues: [new Queue('standard', new RdsQueueBroker({ connection: db.url, receive: 50 }))],
    taskLog: new TaskLog(new RdsTaskLogBroker({ connection: db.url })),
    tasks: [Noop],
    logger: silentLogger,
  });
  try {
    await dispatcher.initialize();
    const empty = await drain(dispatcher);
    console.log(`empty tables: ${empty} tasks/s`);

    console.error(`adding ${ROWS} completed task-log rows and ${ROWS} deleted messages…`);
    await db.query(`INSERT INTO taskq_task_log (id, task_name, label, status, queue, parameters, report, attempts, created_at, updated_at, started_at, finished_at)
      SELECT 'old-' || n, 'Noop', '', 'completed', 'standard', '{}', '"Task completed"', 1, 1700000000000 + n, 1700000000000 + n, 1700000000000 + n, 1700000000000 + n FROM generate_series(1, ${ROWS}) AS n`);
    await db.query(`INSERT INTO taskq_messages (queue, task_id, body, visible_at, receive_count, created_at) SELECT 'standard', 'old-' || n, '{}', 1700000000000 + n, 1, 1700000000000 + n FROM generate_series(1, ${ROWS}) AS n`);
    await db.query('DELETE FROM taskq_messages');
    await db.query('ANALYZE taskq_task_log');
    const beforeVacuum = await drain(dispatcher);
    console.log(`+${ROWS} completed rows, ${ROWS} messages deleted, not vacuumed: ${beforeVacuum} tasks/s`);
    await db.query('VACUUM ANALYZE taskq_messages');
    const afterVacuum = await drain(dispatcher);
    console.log(`… after VACUUM ANALYZE: ${afterVacuum} tasks/s`);

    await dispatcher.enqueueMany(Array.from({ length: 100 }, () => new Noop({})));
    const plan = await db.query<{ 'QUERY PLAN': string }>(
      `EXPLAIN UPDATE taskq_messages SET visible_at = 0 WHERE id IN (SELECT id FROM taskq_messages WHERE queue = 'standard' AND visible_at <= 9000000000000000::bigint ORDER BY visible_at, id LIMIT 50 FOR UPDATE SKIP LOCKED)`,
    );
    console.log(`the claim's plan:\n${plan.map((row) => `  ${row['QUERY PLAN']}`).join('\n')}`);
  } finally {
    await dispatcher.close();
    await target.close();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
