import { type ChildProcess, fork } from 'node:child_process';
import { join } from 'node:path';
import { now } from '../common';
import { type ChildMessage, type ParentMessage, type PeerWorkerJob, isChildMessage } from './workerProtocol';

type Stopped = Extract<ChildMessage, { type: 'stopped' }>;

interface Child {
  process: ChildProcess;
  ready: boolean;
  started: boolean;
  ran: number;
  lastRanAt: number;
  stopped?: Stopped;
  exited: boolean;
}

/** A wait fails when nothing is heard from the workers for this long (a job lost, a worker stuck). */
const STALL_MS = 60_000;
/** How long a worker process has to exit after it reported `stopped` before it is killed. */
const EXIT_GRACE_MS = 10_000;

/**
 * The worker processes of one measure: forks them (peerWorker.js, one Node process each, as
 * sqlite.ts forks sqliteWorker.js), starts them together, follows their counts, stops them.
 * A process that exits before it reported `stopped` fails every wait; `kill` ends whatever is left
 * (call it in a finally).
 */
export class WorkerProcessGroup {
  private readonly children: Child[] = [];
  private readonly listeners = new Set<() => void>();
  private failure?: Error;

  private constructor(job: PeerWorkerJob, count: number, execArgv: string[]) {
    for (let i = 0; i < count; i++) {
      const worker = fork(join(__dirname, 'peerWorker.js'), [JSON.stringify(job)], {
        stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
        execArgv,
        // graphile-worker builds a log line per completed job unless told not to (its documented switch).
        env: { ...process.env, NO_LOG_SUCCESS: '1' },
      });
      const child: Child = { process: worker, ready: false, started: false, ran: 0, lastRanAt: 0, exited: false };
      this.children.push(child);
      worker.on('message', (message: unknown) => this.heard(child, message));
      worker.on('error', (error) => this.fail(new Error(`worker process ${i + 1}: ${error.message}`)));
      worker.on('exit', (code, signal) => {
        child.exited = true;
        if (!child.stopped) this.fail(new Error(`worker process ${i + 1} (${job.variant.id}) exited with ${signal ?? `code ${code}`} before it stopped`));
        this.changed();
      });
    }
  }

  /** Forks `count` worker processes and waits until each has connected. */
  static async fork(job: PeerWorkerJob, count: number, execArgv: string[]): Promise<WorkerProcessGroup> {
    const group = new WorkerProcessGroup(job, count, execArgv);
    try {
      await group.until('worker processes connecting', () => group.children.every((c) => c.ready));
    } catch (error) {
      group.kill();
      throw error;
    }
    return group;
  }

  /** Tells every process to start; returns now() taken just before: where the clock starts. */
  start(): number {
    const at = now();
    for (const child of this.children) this.tell(child, { type: 'start' });
    return at;
  }

  untilStarted(): Promise<void> {
    return this.until('worker processes starting', () => this.children.every((c) => c.started));
  }

  /** Waits until the processes together have run `total` jobs. */
  untilRan(total: number): Promise<void> {
    return this.until(`waiting for ${total} jobs (${this.ran()} run)`, () => this.ran() >= total);
  }

  /** Jobs run so far, all processes together (as last reported). */
  ran(): number {
    return this.children.reduce((sum, c) => sum + c.ran, 0);
  }

  /** now() of the last job run, in any process. */
  lastRanAt(): number {
    return Math.max(...this.children.map((c) => c.lastRanAt));
  }

  /** Stops every process gracefully; resolves with their final reports once they have exited. */
  async stop(): Promise<Stopped[]> {
    for (const child of this.children) this.tell(child, { type: 'stop' });
    await this.until('worker processes stopping', () => this.children.every((c) => c.stopped !== undefined));
    const deadline = setTimeout(() => this.kill(), EXIT_GRACE_MS);
    try {
      await this.until('worker processes exiting', () => this.children.every((c) => c.exited));
    } finally {
      clearTimeout(deadline);
    }
    return this.children.map((c) => c.stopped as Stopped);
  }

  /** Kills the processes still running (after a failure; a no-op after `stop`). */
  kill(): void {
    for (const child of this.children) if (!child.exited) child.process.kill('SIGKILL');
  }

  private tell(child: Child, message: ParentMessage): void {
    if (child.exited || !child.process.connected) return;
    child.process.send(message, (error: Error | null) => {
      if (error) this.fail(new Error(`cannot reach a worker process: ${error.message}`));
    });
  }

  private heard(child: Child, message: unknown): void {
    if (!isChildMessage(message)) return;
    switch (message.type) {
      case 'ready':
        child.ready = true;
        break;
      case 'started':
        child.started = true;
        break;
      case 'progress':
        child.ran = message.ran;
        child.lastRanAt = message.lastRanAt;
        break;
      case 'stopped':
        child.ran = message.ran;
        child.lastRanAt = message.lastRanAt;
        child.stopped = message;
        break;
    }
    this.changed();
  }

  private fail(error: Error): void {
    this.failure ??= error;
    this.changed();
  }

  private changed(): void {
    for (const listener of [...this.listeners]) listener();
  }

  /** Resolves when `done()` holds; rejects on a failure or when nothing is heard for STALL_MS. */
  private until(what: string, done: () => boolean): Promise<void> {
    return new Promise((resolve, reject) => {
      let stall: NodeJS.Timeout | undefined;
      const finish = (error?: Error) => {
        clearTimeout(stall);
        this.listeners.delete(check);
        if (error) reject(error);
        else resolve();
      };
      const check = () => {
        if (this.failure) return finish(this.failure);
        if (done()) return finish();
        clearTimeout(stall);
        stall = setTimeout(() => finish(new Error(`${what}: nothing heard from the worker processes for ${STALL_MS / 1000} s`)), STALL_MS);
      };
      this.listeners.add(check);
      check();
    });
  }
}
