/**
 * The worker process of the awaiting scenario: one `Worker` on the connection it is given, as
 * `taskq run-worker` runs it, until its parent disconnects. Forked by awaiting.ts.
 */
import { Queue, QueueDispatcher, RdsQueueBroker, RdsTaskLogBroker, TaskLog, Worker, silentLogger } from '../src';
import { BenchNoop } from './common';

async function main(): Promise<void> {
  const connection = process.argv[2];
  const dispatcher = new QueueDispatcher({
    queues: [new Queue('await', new RdsQueueBroker({ connection }))],
    taskLog: new TaskLog(new RdsTaskLogBroker({ connection })),
    tasks: [BenchNoop],
    logger: silentLogger,
  });
  const worker = new Worker(dispatcher, { concurrency: 1, logger: silentLogger });
  const running = worker.run();
  process.send?.('ready');
  process.on('disconnect', () => void worker.stop());
  await running;
  await dispatcher.close();
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
