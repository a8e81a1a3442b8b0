/**
 * `npm run demo`: a small application on the embedded SQLite default. It writes a config, enqueues
 * three dozen tasks into three weighted queues, runs `taskq run-worker --limit=30` as a separate
 * process (as you would in production), then reads the task log.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { createDispatcher, loadConfig, silentLogger, TaskLogFilter, type TaskLogEntry } from '../src';
import { GenerateReport, ReindexCatalog, SendWelcomeEmail } from './tasks';

const ROOT = resolve(__dirname, '../..');
const DIR = join(ROOT, 'examples', 'demo-data');
const CLI = join(ROOT, 'dist', 'bin', 'taskq.js');

function heading(text: string) {
  console.log(`\n== ${text}`);
}

async function main() {
  rmSync(DIR, { recursive: true, force: true });
  mkdirSync(DIR, { recursive: true });
  const config = {
    queues: [
      { name: 'priority', weight: 90, broker: { type: 'rds', connection: 'sqlite:./taskq.db', receive: 10 } },
      { name: 'standard', weight: 30, broker: { type: 'rds', connection: 'sqlite:./taskq.db', receive: 5 } },
      { name: 'background', weight: 10, broker: { type: 'rds', connection: 'sqlite:./taskq.db', receive: 5 } },
    ],
    defaultQueue: 'standard',
    associations: { SendWelcomeEmail: 'priority' },
    taskLog: { type: 'rds', connection: 'sqlite:./taskq.db' },
    tasks: [join(ROOT, 'dist', 'examples', 'tasks.js')],
  };
  writeFileSync(join(DIR, 'taskq.config.json'), JSON.stringify(config, null, 2));
  heading(`config: ${join('examples', 'demo-data', 'taskq.config.json')}`);
  console.log('queues priority (weight 90), standard (30), background (10), all in demo-data/taskq.db');

  const dispatcher = await createDispatcher(await loadConfig(join(DIR, 'taskq.config.json')), { logger: silentLogger });
  await dispatcher.initialize();

  heading('enqueue 36 tasks');
  const tasks = [
    ...Array.from({ length: 12 }, (_, i) => new SendWelcomeEmail({ to: `user${i + 1}@example.com` })),
    ...Array.from({ length: 12 }, (_, i) => new GenerateReport({ month: `2026-${String(i + 1).padStart(2, '0')}` })),
    ...Array.from({ length: 12 }, (_, i) => new ReindexCatalog({ shard: i + 4 })),
  ];
  for (const task of tasks) await dispatcher.enqueue(task, `${task.name} #${tasks.indexOf(task) + 1}`);
  for (const queue of dispatcher.getQueues()) console.log(`  ${queue.name.padEnd(10)} ${await queue.count()} waiting`);

  heading('taskq run-worker --limit=30 --concurrency=2 (a separate process)');
  await runWorker(['run-worker', '--limit=30', '--concurrency=2']);

  heading('taskq task-log --stats');
  const stats = await dispatcher.taskLog.getStats();
  for (const [status, count] of Object.entries(stats)) if (count > 0 || status === 'enqueued') console.log(`  ${status.padEnd(10)} ${count}`);
  for (const queue of dispatcher.getQueues()) console.log(`  still waiting in ${queue.name}: ${await queue.count()}`);

  heading('a few reports');
  const show = (entry: TaskLogEntry) => console.log(`  ${entry.label.padEnd(20)} ${entry.status.padEnd(9)} attempts=${entry.attempts}  ${entry.report?.type === 'error' ? entry.report.message : JSON.stringify(entry.report?.data ?? entry.report?.message)}`);
  for (const name of ['SendWelcomeEmail', 'GenerateReport', 'ReindexCatalog']) {
    const [entry] = await dispatcher.taskLog.search(new TaskLogFilter().eq('taskName', name).eq('status', 'completed').limit(1));
    if (entry) show(entry);
  }
  const failed = await dispatcher.taskLog.search(new TaskLogFilter().eq('status', 'failed'));
  for (const entry of failed) show(entry);

  await dispatcher.close();
  console.log(`\nThe rest wait for the next worker: cd examples/demo-data && node ${join('..', '..', 'dist', 'bin', 'taskq.js')} run-worker`);
}

/** Runs the CLI in the demo folder, turning its JSON log lines into short readable ones. */
function runWorker(args: string[]): Promise<void> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { cwd: DIR, stdio: ['ignore', 'inherit', 'pipe'] });
    let buffer = '';
    child.stderr.on('data', (chunk: Buffer) => {
      buffer += chunk.toString();
      const lines = buffer.split('\n');
      buffer = lines.pop() ?? '';
      for (const line of lines) {
        try {
          const entry = JSON.parse(line) as { msg: string; queue?: string };
          console.log(`  ${entry.queue ? `[${entry.queue}] ` : ''}${entry.msg}`);
        } catch {
          if (line.trim()) console.log(`  ${line}`);
        }
      }
    });
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolvePromise() : reject(new Error(`taskq run-worker exited ${code}`))));
  });
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
