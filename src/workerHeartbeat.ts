import { hostname } from 'node:os';
import type { Logger } from './logger';
import type { TaskLog } from './taskLog/taskLog';
import type { WorkerRunStatus } from './taskLog/taskLogBroker';
import type { WorkerStats } from './worker';

/** The shortest heartbeat interval a worker takes (WorkerOptions.heartbeatMs). */
export const MIN_HEARTBEAT_MS = 100;
/** Workers not seen for this long are dropped by the next worker to start: restarts do not grow the table without end. */
export const FORGET_WORKERS_AFTER_MS = 24 * 3_600_000;
/** How long a stopping worker waits for its last beat to be written (a database that does not answer must not hold the stop). */
const LAST_BEAT_WAIT_MS = 5_000;

/** What the heartbeat reads of its worker at each beat. */
export interface HeartbeatSubject {
  readonly id: string;
  /** The worker's state; `idle` (not started) is written as running. */
  readonly status: WorkerRunStatus | 'idle';
  readonly stats: WorkerStats;
}

/**
 * Writes a worker's heartbeat to the task log (TaskLog.recordWorker): at start, every
 * `intervalMs`, when asked (pause, resume, stop), and a last one once the worker has stopped.
 * Best effort: a write that fails is logged once per streak of failures and never stops the
 * worker; beats are written one at a time, in order, so a late one never overwrites `stopped`.
 */
export class HeartbeatWriter {
  private timer?: ReturnType<typeof setInterval>;
  private startedAt?: Date;
  private writing: Promise<void> = Promise.resolve();
  /** Beats queued or under way: the timer adds none while one waits (a slow database). */
  private queued = 0;
  private failing = false;

  constructor(
    private readonly taskLog: TaskLog,
    private readonly worker: HeartbeatSubject,
    private readonly queues: readonly string[],
    readonly intervalMs: number,
    private readonly logger: Logger,
  ) {}

  /** Writes the first beat and starts the timer; forgets the workers gone for a day. */
  start(): void {
    if (this.startedAt) return;
    this.startedAt = new Date();
    void this.beat();
    this.timer = setInterval(() => {
      if (this.queued === 0) void this.beat();
    }, this.intervalMs);
    this.timer.unref();
    this.taskLog.removeWorkers(FORGET_WORKERS_AFTER_MS).catch((error: unknown) => {
      this.logger.debug(`could not drop the rows of workers gone for a day: ${(error as Error).message}`, { workerId: this.worker.id });
    });
  }

  /** Writes a beat now, after those under way; never rejects. Nothing before start. */
  beat(): Promise<void> {
    if (!this.startedAt) return Promise.resolve();
    this.queued++;
    this.writing = this.writing.then(async () => {
      try {
        await this.write();
      } finally {
        this.queued--;
      }
    });
    return this.writing;
  }

  /** Stops the timer and writes the last beat, waiting for it a few seconds at most. */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    let timeout: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([this.beat(), new Promise<void>((resolve) => (timeout = setTimeout(resolve, LAST_BEAT_WAIT_MS)))]);
    clearTimeout(timeout);
  }

  private async write(): Promise<void> {
    const { id, status, stats } = this.worker;
    try {
      await this.taskLog.recordWorker({
        id,
        host: hostname(),
        pid: process.pid,
        queues: [...this.queues],
        startedAt: this.startedAt as Date,
        tasksRun: stats.completed + stats.failed + stats.retried,
        status: status === 'idle' ? 'running' : status,
        heartbeatMs: this.intervalMs,
      });
      if (this.failing) {
        this.failing = false;
        this.logger.info('worker heartbeat written again', { workerId: id });
      }
    } catch (error) {
      if (this.failing) return;
      this.failing = true;
      this.logger.warn(`could not write the worker heartbeat: ${(error as Error).message}; the worker goes on (said once until it works again)`, { workerId: id });
    }
  }
}
