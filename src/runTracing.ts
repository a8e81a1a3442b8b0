import { AsyncLocalStorage } from 'node:async_hooks';
import type { TaskFaultError } from './errors';
import type { RunContext } from './runContext';
import type { AbstractTask, TaskResult } from './task';

/*
 * Which task run an uncaught error came from. While a worker process's fault handlers are
 * installed (installWorkerProcessHandlers), each run executes in an async context of its own, so
 * an 'uncaughtException' or 'unhandledRejection' from a task's background code can be traced to
 * the run, and fail it.
 */

/** The run whose async context an uncaught error was thrown in (installWorkerProcessHandlers). */
export interface RunningTask {
  readonly taskId: string;
  readonly taskName: string;
  readonly attempt: number;
  readonly queue: string;
  /** True once the run's outcome is decided: a fault no longer changes it. */
  readonly ended: boolean;
  /**
   * Fails the run with `error` unless it has ended: aborts its signal and stops waiting for it,
   * as a timeout does. Returns whether the run was failed.
   */
  fail(error: TaskFaultError): boolean;
}

/** One traced run: what a fault handler needs to name it and fail it. */
export class RunState implements RunningTask {
  ended = false;
  private reject?: (error: unknown) => void;

  constructor(
    readonly taskId: string,
    readonly taskName: string,
    readonly attempt: number,
    readonly queue: string,
    private readonly ctx: RunContext,
  ) {}

  /** Runs the task in this run's async context: its result, or the fault that fails it first. */
  start(task: AbstractTask<object>): Promise<TaskResult> | TaskResult {
    return this.guard(runs.run(this, runTask, task, this.ctx));
  }

  /** A run that returned synchronously cannot fault first. */
  private guard<T>(run: Promise<T> | T): Promise<T> | T {
    if (!(run instanceof Promise)) return run;
    return new Promise<T>((resolve, reject) => {
      this.reject = reject;
      run.then(resolve, reject);
    });
  }

  fail(error: TaskFaultError): boolean {
    if (this.ended || !this.reject) return false;
    this.ctx.abort(error);
    this.reject(error);
    return true;
  }
}

/** The async context of every run, from its start to its background code's last callback. */
const runs = new AsyncLocalStorage<RunState>();
/**
 * Runs are traced only while someone listens (installWorkerProcessHandlers): on Node 20 an
 * AsyncLocalStorage in use tracks every promise of the process, which costs the sync queue's
 * hot path about a quarter of its throughput.
 */
let tracedRuns = 0;

export function tracingRuns(): boolean {
  return tracedRuns > 0;
}

/** Starts tracing runs (runningTask()); returns the function that stops it. */
export function traceRuns(): () => void {
  tracedRuns++;
  let stopped = false;
  return () => {
    if (stopped) return;
    stopped = true;
    if (--tracedRuns === 0) runs.disable();
  };
}

function runTask(task: AbstractTask<object>, ctx: RunContext): Promise<TaskResult> | TaskResult {
  return task.run(ctx);
}

/**
 * The task run whose code (its own or its background callbacks and promises) is executing now,
 * or undefined outside any run (or while runs are not traced: see traceRuns). In an 'uncaughtException' or 'unhandledRejection' handler it
 * names the run the error came from, when Node kept the error's async context (it does for
 * timers, I/O callbacks and promise rejections).
 */
export function runningTask(): RunningTask | undefined {
  return runs.getStore();
}

