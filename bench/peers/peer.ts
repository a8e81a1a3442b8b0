/**
 * The one interface the side-by-side PostgreSQL benchmark drives taskq, graphile-worker and
 * pg-boss through. The bench process uses the producer half (install, reset, enqueue, count);
 * a forked worker process the consumer half (connectWorker, startWorker). Every system runs the
 * same no-op job, whose payload is a JobPayload.
 */

/** The payload of every benchmark job. */
export interface JobPayload {
  /** now() (bench/common.ts) just before the enqueue call: comparable across processes. */
  t: number;
  /** 1 for a warm-up job: its latency is not recorded. */
  w?: 1;
}

/** Narrows a payload a peer hands back as `unknown` (graphile-worker types payloads so). */
export function isJobPayload(value: unknown): value is JobPayload {
  return typeof value === 'object' && value !== null && typeof (value as { t?: unknown }).t === 'number';
}

/** Called by a worker at the start of each job's handler; the handler does nothing else. */
export type JobRan = (payload: JobPayload) => void;

/** Plain SQL on the throwaway database, for what no peer's API does (truncate, count, ANALYZE). */
export interface SqlRunner {
  query<R extends object>(text: string, values?: unknown[]): Promise<R[]>;
}

/** The throwaway database a run measures in (PostgreSQL or MariaDB), dropped at the end. */
export interface BenchDatabase extends SqlRunner {
  readonly name: string;
  /** Its connection URL. */
  readonly url: string;
  /** Before a drain: statistics brought up to date (and on PostgreSQL a CHECKPOINT), so neither lands inside one system's timing and not another's. */
  settle(): Promise<void>;
  /** The server's version string. */
  serverVersion(): Promise<string>;
  /** Drops the database, whoever is still connected; idempotent. */
  drop(): Promise<void>;
}

/** What is left of the queued jobs after a drain, read from the system's own tables. */
export interface QueueTally {
  /** Jobs the system records as completed; null where it keeps none (graphile-worker deletes them). */
  completed: number | null;
  /** Jobs not completed: queued, locked, running, retrying or failed. */
  unfinished: number;
}

/** A worker started in a worker process; `stop` is the system's own graceful stop. */
export interface RunningWorker {
  stop(): Promise<void>;
}

export interface Peer {
  /** Creates the system's schema and tables (its migrations): not timed. */
  install(sql: SqlRunner): Promise<void>;
  /** Empties the queue and whatever the system keeps of past jobs, so a measure starts clean. */
  reset(sql: SqlRunner): Promise<void>;
  /** One job, one awaited call. */
  enqueueOne(payload: JobPayload): Promise<void>;
  /** Many jobs in one call of the system's bulk API. */
  enqueueBulk(payloads: readonly JobPayload[]): Promise<void>;
  /** Reads the system's own tables: how many jobs are completed and how many are not. */
  tally(sql: SqlRunner): Promise<QueueTally>;
  /** Worker process: connects (and loads what it needs) before the clock starts. */
  connectWorker(): Promise<void>;
  /** Worker process: starts consuming with `concurrency` jobs at a time; resolves once started. */
  startWorker(concurrency: number, onJob: JobRan): Promise<RunningWorker>;
  close(): Promise<void>;
}
