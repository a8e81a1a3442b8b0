import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { type Command } from 'commander';
import { createQueueBroker } from '../../src/brokerFactory';
import { type BrokerSettings, brokerConfigOf, readState, stateFileOf } from '../../src/config';
import { ConfigError } from '../../src/errors';
import { Queue } from '../../src/queue';
import type { OutgoingMessage, ReceivedMessage } from '../../src/queueBroker';
import { type GlobalOptions, withDispatcher } from '../context';
import { oneOf, positiveInt } from '../options';
import { printJson, printLine } from '../output';

interface InitializeOptions {
  broker?: 'memory' | 'rds' | 'sqs';
  connection?: string;
  receive?: number;
  queue?: string;
  awsProfile?: string;
  region?: string;
  endpoint?: string;
  json?: boolean;
}

/** Pending messages are moved in batches of this many, each leased while it moves. */
const MOVE_BATCH = 500;

export function initializeQueueCommand(program: Command): void {
  program
    .command('initialize-queue')
    .description('create every queue\'s container and the task log\'s; with --broker, switch queues to that broker and move their pending tasks')
    .option('--broker <type>', 'switch every queue (or --queue) to this broker: memory | rds', oneOf('--broker', ['memory', 'rds', 'sqs'] as const))
    .option('--connection <url>', 'with --broker=rds: sqlite:PATH, postgres://…, mysql://… (default: the queue\'s current one, else sqlite:./taskq.db)')
    .option('--receive <n>', 'with --broker: messages a worker receives at a time', positiveInt('--receive'))
    .option('--queue <name>', 'only this queue')
    .option('--aws-profile <profile>', 'with --broker=sqs: AWS profile')
    .option('--region <region>', 'with --broker=sqs: AWS region')
    .option('--endpoint <url>', 'with --broker=sqs: endpoint of an SQS-compatible server')
    .option('--json', 'print the result as JSON')
    .action(async (options: InitializeOptions, command: Command) => {
      const global = command.optsWithGlobals<GlobalOptions>();
      await withDispatcher(global, async ({ config, dispatcher }) => {
        if (options.queue) dispatcher.getQueue(options.queue);
        for (const [flag, value] of [['--aws-profile', options.awsProfile], ['--region', options.region], ['--endpoint', options.endpoint]] as const) {
          if (value !== undefined && options.broker !== 'sqs') throw new ConfigError(`${flag} goes with --broker=sqs`);
        }
        if (options.connection !== undefined && options.broker !== 'rds') throw new ConfigError('--connection goes with --broker=rds');
        if (!options.broker) {
          if (options.receive) throw new ConfigError('--receive goes with --broker');
          await dispatcher.initialize();
          const queues = dispatcher.getQueues().map((q) => ({ name: q.name, weight: q.weight, broker: q.broker.describe() }));
          if (options.json) printJson({ queues, taskLog: dispatcher.taskLog.broker.describe() });
          else {
            for (const q of queues) printLine(`queue ${q.name} (weight ${q.weight}): ${q.broker.type} ready`);
            printLine(`task log: ${dispatcher.taskLog.broker.type} ready`);
          }
          return;
        }
        if (options.broker === 'sqs') throw new ConfigError('--broker=sqs: the SQS broker is not available in this version of taskq (memory, rds)');
        await dispatcher.taskLog.createContainer();
        const state = readState(config);
        const moved: { queue: string; from: string; to: string; moved: number; left: number }[] = [];
        for (const queue of dispatcher.getQueues()) {
          if (options.queue && queue.name !== options.queue) continue;
          const current = config.queues.find((q) => q.name === queue.name)?.broker;
          const settings: BrokerSettings =
            options.broker === 'memory'
              ? { type: 'memory', ...(options.receive ? { receive: options.receive } : {}) }
              : {
                  type: 'rds',
                  connection: options.connection ?? (current?.type === 'rds' ? current.connection : undefined) ?? 'sqlite:./taskq.db',
                  ...(options.receive ? { receive: options.receive } : current?.type === 'rds' && current.receive ? { receive: current.receive } : {}),
                };
          const target = new Queue(queue.name, createQueueBroker(brokerConfigOf(settings, config.baseDir ?? process.cwd()), `--broker=${options.broker}`), queue.weight);
          try {
            await target.initialize();
            const { moved: count, left } = await moveMessages(queue, target, (messages) => dispatcher.transfer(target, messages));
            moved.push({ queue: queue.name, from: queue.broker.type, to: settings.type, moved: count, left });
          } finally {
            await target.broker.close();
          }
          state.queues[queue.name] = settings;
        }
        const file = stateFileOf(config);
        mkdirSync(dirname(file), { recursive: true });
        writeFileSync(file, `${JSON.stringify(state, null, 2)}\n`);
        if (options.json) printJson({ switched: moved, stateFile: file });
        else {
          for (const m of moved) {
            printLine(`queue ${m.queue}: ${m.from} -> ${m.to}, ${m.moved} pending task(s) moved`);
            if (m.left > 0) printLine(`  ${m.left} task(s) held by running workers stay on the old broker: let those workers finish, then run this again`);
          }
          printLine(`saved in ${file}`);
        }
      });
    });
}

/**
 * Moves every waiting message from `from` to `to`: visible ones under a lease, then delayed ones
 * with their run-at time. Each batch is acknowledged only once the target holds it (or ran it,
 * for a sync target): a crash in between leaves a duplicate, never a loss, and the task log
 * stops the duplicate from running twice. Messages leased by a running worker stay.
 */
async function moveMessages(from: Queue, to: Queue, transfer: (messages: OutgoingMessage[]) => Promise<void>): Promise<{ moved: number; left: number }> {
  if (from.isSync() || sameStorage(from, to)) return { moved: 0, left: 0 };
  let moved = 0;
  const outgoing = (batch: ReceivedMessage[]) => batch.map((m) => ({ taskId: m.taskId ?? m.id, body: m.body, runAt: m.runAt }));
  for (;;) {
    const batch = await from.broker.receive(from.name, MOVE_BATCH, 10 * 60_000);
    if (batch.length === 0) break;
    await transfer(outgoing(batch));
    for (const message of batch) await from.broker.acknowledge(from.name, message);
    moved += batch.length;
  }
  const seen = new Set<string>();
  while (from.broker.receiveDelayed) {
    const batch = (await from.broker.receiveDelayed(from.name, MOVE_BATCH)).filter((m) => !seen.has(m.id));
    if (batch.length === 0) break;
    await transfer(outgoing(batch));
    for (const message of batch) {
      seen.add(message.id);
      await from.broker.acknowledge(from.name, message);
    }
    moved += batch.length;
  }
  return { moved, left: await from.count() };
}

/** Same type, connection and table: the messages are already where they would move to. */
function sameStorage(a: Queue, b: Queue): boolean {
  const x = a.broker.describe();
  const y = b.broker.describe();
  return x.type === y.type && x.connection === y.connection && x.table === y.table && x.type !== 'memory';
}
