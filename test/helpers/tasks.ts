import { AbstractTask, type TaskContext } from '../../src';
import { wait } from './wait';

/** Counts runs per task id, so tests can prove "exactly once". */
export const runs = new Map<string, number>();

export class RecordRun extends AbstractTask<{ n: number }> {
  static override taskName = 'RecordRun';
  async run(ctx: TaskContext) {
    runs.set(ctx.taskId, (runs.get(ctx.taskId) ?? 0) + 1);
    // Yield so concurrent workers really interleave.
    await new Promise((resolve) => setImmediate(resolve));
    return { n: this.getParameter('n') };
  }
}

export class Sleep extends AbstractTask<{ ms: number }> {
  static override taskName = 'Sleep';
  async run(ctx: TaskContext) {
    await wait(this.getParameter('ms'));
    return { slept: this.getParameter('ms'), attempt: ctx.attempt };
  }
}
