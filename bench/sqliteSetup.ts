import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Queue, QueueDispatcher, RdsQueueBroker, RdsTaskLogBroker, TaskLog, silentLogger } from '../src';
import { BenchNoop } from './common';

export const QUEUE = 'bench';

/** A dispatcher whose queue and task log share one SQLite file (one handle per process). */
export function sqliteDispatcher(file: string, receive: number): QueueDispatcher {
  const connection = `sqlite:${file}`;
  return new QueueDispatcher({
    queues: [new Queue(QUEUE, new RdsQueueBroker({ connection, receive }))],
    taskLog: new TaskLog(new RdsTaskLogBroker({ connection })),
    tasks: [BenchNoop],
    logger: silentLogger,
  });
}

/** A fresh database file in its own temporary folder; `dispose` removes the folder. */
export function tempDatabase(): { file: string; dispose(): void } {
  const dir = mkdtempSync(join(tmpdir(), 'taskq-bench-'));
  return { file: join(dir, 'bench.db'), dispose: () => rmSync(dir, { recursive: true, force: true }) };
}

/** What the parent tells a worker process to do (its one argument, as JSON). */
export interface WorkerJob {
  file: string;
  receive: number;
  concurrency: number;
  /**
   * drain: run `warm` then `tasks` tasks that are already queued, timing the second part.
   * paced: say `ready`, then run `warm + tasks` tasks as the parent enqueues them, recording
   * the latency of the ones not flagged warm.
   */
  mode: 'drain' | 'paced';
  warm: number;
  tasks: number;
  /** The Worker's idleMinMs; its default when absent. */
  idleMinMs?: number;
  /** The Worker's claimAhead. */
  claimAhead?: boolean;
}

/** What a worker process reports back over IPC. */
export type WorkerReport =
  | { type: 'ready' }
  | { type: 'result'; ms: number; processed: number; completed: number; failed: number; latencies?: number[] };
