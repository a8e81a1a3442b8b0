import { type ChildProcess, fork } from 'node:child_process';
import { join } from 'node:path';
import { now, sleep } from '../common';
import { type MemoryChildMessage, type MemoryWorkerJob, isMemoryChildMessage } from './memoryProtocol';
import type { MemorySample } from './report';

/** A wait fails when the worker reports nothing for this long. */
const STALL_MS = 120_000;

/** The worker process of the worker-memory run (memoryWorker.js, forked with --expose-gc), followed through its messages. */
export class MemoryWorkerProcess {
  ran = 0;
  ready = false;
  stopped = false;
  exited = false;
  failure?: Error;
  lastHeard = now();
  readonly samples: MemorySample[] = [];
  private readonly child: ChildProcess;

  constructor(job: MemoryWorkerJob, execArgv: string[]) {
    this.child = fork(join(__dirname, 'memoryWorker.js'), [JSON.stringify(job)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], execArgv: ['--expose-gc', ...execArgv] });
    this.child.on('message', (message: unknown) => {
      if (isMemoryChildMessage(message)) this.heard(message);
    });
    this.child.on('error', (error) => (this.failure ??= error));
    this.child.on('exit', (code, signal) => {
      this.exited = true;
      if (!this.stopped) this.failure ??= new Error(`the worker process exited with ${signal ?? `code ${code}`} before it stopped`);
    });
  }

  private heard(message: MemoryChildMessage): void {
    this.lastHeard = now();
    switch (message.type) {
      case 'ready':
        this.ready = true;
        break;
      case 'progress':
        this.ran = message.ran;
        break;
      case 'sample':
        this.samples.push(message.sample);
        break;
      case 'stopped':
        this.ran = message.ran;
        this.stopped = true;
        break;
    }
  }

  tell(type: 'start' | 'stop'): void {
    if (this.child.connected) this.child.send({ type });
  }

  /** Polls `done` every 20 ms; fails on the worker's failure or silence. */
  async until(what: string, done: () => boolean): Promise<void> {
    while (!done()) {
      if (this.failure) throw this.failure;
      if (now() - this.lastHeard > STALL_MS) throw new Error(`${what}: nothing heard from the worker process for ${STALL_MS / 1000} s`);
      await sleep(20);
    }
  }

  kill(): void {
    if (!this.exited) this.child.kill('SIGKILL');
  }
}
