/**
 * The demo's tasks: what an application's task module looks like. The config lists the compiled
 * module (`tasks: ["…/tasks.js"]`); every exported AbstractTask subclass is registered.
 */
import { AbstractTask, Report, type TaskContext } from '../src';

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export class SendWelcomeEmail extends AbstractTask<{ to: string }> {
  static override taskName = 'SendWelcomeEmail';

  async run() {
    await pause(10 + Math.random() * 30);
    return Report.success(`Welcome mail sent to ${this.getParameter('to')}`);
  }
}

export class GenerateReport extends AbstractTask<{ month: string }> {
  static override taskName = 'GenerateReport';

  async run(ctx: TaskContext) {
    let rows = 0;
    for (let part = 1; part <= 3; part++) {
      await pause(15);
      rows += 100 * part;
      await ctx.progress(part / 3);
    }
    return { month: this.getParameter('month'), rows };
  }
}

export class ReindexCatalog extends AbstractTask<{ shard: number }> {
  static override taskName = 'ReindexCatalog';
  static override maxAttempts = 2;
  static override backoff = 100;

  /** Big shards go to the background queue, whatever the associations say. */
  override getQueueName(params: { shard: number }) {
    return params.shard >= 10 ? 'background' : undefined;
  }

  async run(ctx: TaskContext) {
    await pause(20);
    if (this.getParameter('shard') === 13) throw new Error(`Shard 13 is locked by a backup (attempt ${ctx.attempt})`);
    const report = Report.success(`Shard ${this.getParameter('shard')} reindexed`);
    report.add(Report.info('0 documents skipped'));
    return report;
  }
}
