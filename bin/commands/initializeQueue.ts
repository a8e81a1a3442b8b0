import { randomUUID } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { type Command } from 'commander';
import { createQueueBroker } from '../../src/brokerFactory';
import { type BrokerSettings, brokerConfigOf, readState, stateFileOf } from '../../src/config';
import { ConfigError, TaskqError } from '../../src/errors';
import { Queue } from '../../src/queue';
import type { OutgoingMessage, ReceivedMessage } from '../../src/queueBroker';
import { type GlobalOptions, withDispatcher } from '../context';
import { oneOf, positiveInt, url } from '../options';
import { printJson, printLine } from '../output';

interface InitializeOptions {
  broker?: 'memory' | 'rds' | 'sqs';
  connection?: string;
  receive?: number;
  queue?: string;
  awsProfile?: string;
  region?: string;
  endpoint?: string;
  queuePrefix?: string;
  force?: boolean;
  waitTimeout?: number;
  json?: boolean;
}

/** Pending messages are moved in batches of this many, each leased while it moves. */
const MOVE_BATCH = 500;
/** SQS takes at most ten messages per receive. */
const SQS_MAX_RECEIVE = 10;

export function initializeQueueCommand(program: Command): void {
  program
    .command('initialize-queue')
    .description('create every queue\'s container and the task log\'s; with --broker, switch queues to that broker and move their pending tasks')
    .option('--broker <type>', 'switch every queue (or --queue) to this broker: memory | rds | sqs', oneOf('--broker', ['memory', 'rds', 'sqs'] as const))
    .option('--connection <url>', 'with --broker=rds: sqlite:PATH, postgres://…, mysql://… (default: the queue\'s current one, else sqlite:./taskq.db)')
    .option('--receive <n>', 'with --broker: messages a worker receives at a time (sqs: 1-10)', positiveInt('--receive'))
    .option('--queue <name>', 'only this queue')
    .option('--aws-profile <profile>', 'with --broker=sqs: a profile of the shared AWS config (default: the queue\'s current one, else the standard credential chain)')
    .option('--region <region>', 'with --broker=sqs: AWS region (default: the queue\'s current one, else AWS_REGION or the profile\'s)')
    .option('--endpoint <url>', 'with --broker=sqs: an SQS-compatible server, such as http://127.0.0.1:4566 (default: the queue\'s current one, else AWS)', url('--endpoint'))
    .option('--queue-prefix <prefix>', 'with --broker=sqs: prepended to every SQS queue name (default: the queue\'s current one)')
    .option('--force', 'with --broker: when running workers hold tasks on the old broker, wait for them and move them as they come back (else the switch is refused)')
    .option('--wait-timeout <ms>', 'with --force: give up after this long (exit 1); nothing is switched and what moved goes back', positiveInt('--wait-timeout'))
    .option('--json', 'print the result as JSON')
    .action(async (options: InitializeOptions, command: Command) => {
      const global = command.optsWithGlobals<GlobalOptions>();
      await withDispatcher(global, async ({ config, dispatcher }) => {
        if (options.queue) dispatcher.getQueue(options.queue);
        for (const [flag, value] of [['--aws-profile', options.awsProfile], ['--region', options.region], ['--endpoint', options.endpoint], ['--queue-prefix', options.queuePrefix]] as const) {
          if (value !== undefined && options.broker !== 'sqs') throw new ConfigError(`${flag} goes with --broker=sqs`);
          if (value === '') throw new ConfigError(`${flag} must not be empty`);
        }
        if (options.broker === 'sqs' && options.receive !== undefined && options.receive > SQS_MAX_RECEIVE) {
          throw new ConfigError(`--receive with --broker=sqs must be from 1 to ${SQS_MAX_RECEIVE} (SQS hands out at most ${SQS_MAX_RECEIVE} messages at a time)`);
        }
        if (options.connection !== undefined && options.broker !== 'rds') throw new ConfigError('--connection goes with --broker=rds');
        if (options.force && !options.broker) throw new ConfigError('--force goes with --broker');
        if (options.waitTimeout !== undefined && !options.force) throw new ConfigError('--wait-timeout goes with --force');
        if (!options.broker) {
          if (options.receive) throw new ConfigError('--receive goes with --broker');
          await dispatcher.initialize();
          const queues = dispatcher.getQueues().map((q) => ({ name: q.name, weight: q.weight, broker: q.broker.describe(), processLocal: q.broker.processLocal === true }));
          if (options.json) printJson({ queues, taskLog: dispatcher.taskLog.broker.describe() });
          else {
            for (const q of queues) {
              // Nothing was made that another process could use: say so rather than "ready".
              const state = q.processLocal ? 'process-local: its messages live only inside one process, so `taskq enqueue` and `taskq run-worker` refuse it' : 'ready';
              printLine(`queue ${q.name} (weight ${q.weight}): ${q.broker.type} ${state}`);
            }
            printLine(`task log: ${dispatcher.taskLog.broker.type} ready`);
          }
          return;
        }
        await dispatcher.taskLog.createContainer();
        const state = readState(config);
        const switches: Switch[] = [];
        try {
          for (const queue of dispatcher.getQueues()) {
            if (options.queue && queue.name !== options.queue) continue;
            const current = config.queues.find((q) => q.name === queue.name)?.broker;
            const settings: BrokerSettings =
              options.broker === 'memory'
                ? { type: 'memory', ...(options.receive ? { receive: options.receive } : {}) }
                : options.broker === 'sqs'
                  ? sqsSettings(options, current)
                  : {
                      type: 'rds',
                      connection: options.connection ?? (current?.type === 'rds' ? current.connection : undefined) ?? 'sqlite:./taskq.db',
                      ...(options.receive ? { receive: options.receive } : current?.type === 'rds' && current.receive ? { receive: current.receive } : {}),
                    };
            // Brokers open their storage on first use: a refused switch never touches the new one.
            const target = new Queue(queue.name, createQueueBroker(brokerConfigOf(settings, config.baseDir ?? process.cwd()), `--broker=${options.broker}`), queue.weight);
            switches.push({ queue, target, settings, moves: !queue.isSync() && !sameStorage(queue, target), moved: 0 });
          }
          const moving = switches.filter((s) => s.moves);

          // A task a worker holds goes back to the old broker when the worker gives it back, retries
          // it or dies, and nobody reads the old broker after the switch: refuse before changing
          // anything, unless --force asks to wait for those tasks.
          const held: Held[] = [];
          for (const s of moving) {
            await s.queue.initialize();
            const leased = await s.queue.broker.countLeased(s.queue.name);
            // A broker that cannot list its delayed messages (SQS) counts them with those in flight.
            if (leased > 0) held.push(lists(s.queue) ? { queue: s.queue, leased, waiting: 0 } : { queue: s.queue, leased: 0, waiting: 0, hidden: leased });
          }
          if (held.length > 0 && !options.force) throw new TaskqError(held.map(refusal).join('\n'));

          for (const s of switches) await s.target.initialize();
          const report = (line: string) => (options.json ? dispatcher.logger.info(line) : printLine(line));
          const deadline = !options.force ? Date.now() : options.waitTimeout !== undefined ? Date.now() + options.waitTimeout : Infinity;
          // Nothing reads the new broker before the state file names it: a switch given up puts back
          // what moved. (A sync target ran what moved to it: nothing to put back.)
          const putBack = async (why: string, lines: string[]): Promise<never> => {
            let back = 0;
            try {
              for (const s of moving) back += await moveMessages(s.target, s.queue, (messages) => dispatcher.transfer(s.queue, messages));
            } catch (error) {
              lines.push(`${why}: nothing switched, but moving tasks back to the old broker failed (${(error as Error).message}); they wait on the new broker, not run, until this switch is run again to its end`);
              throw new TaskqError(lines.join('\n'));
            }
            const ran = moving.reduce((n, s) => n + (s.target.isSync() ? s.moved : 0), 0);
            const undone = [back > 0 ? `the ${back} task(s) moved meanwhile are back on the old broker` : '', ran > 0 ? `the ${ran} task(s) moved to the sync broker ran here` : ''];
            lines.push(`${why}: nothing switched${undone.filter(Boolean).map((part) => `; ${part}`).join('')}`);
            throw new TaskqError(lines.join('\n'));
          };
          let outcome: Awaited<ReturnType<typeof drain>>;
          try {
            outcome = await drain(moving, (target) => (messages) => dispatcher.transfer(target, messages), deadline, report);
          } catch (error) {
            // The new broker refused a task (too large for SQS, a delay on an SQS FIFO queue): the
            // task stays on the old broker, and so does everything else.
            return await putBack(`moving failed: ${(error as Error).message}`, []);
          }
          if (outcome.held.length > 0) {
            const why = !options.force
              ? outcome.held.some((h) => h.hidden) ? 'tasks in flight or delayed on SQS cannot move before SQS shows them again' : 'a worker took tasks while the others moved'
              : outcome.interrupted ? 'interrupted' : `gave up after waiting ${options.waitTimeout} ms`;
            return await putBack(why, outcome.held.map(options.force ? stillHeld : refusal));
          }
          for (const s of switches) state.queues[s.queue.name] = s.settings;
        } finally {
          for (const s of switches) await s.target.broker.close();
        }
        const file = stateFileOf(config);
        mkdirSync(dirname(file), { recursive: true });
        writeFileSync(file, `${JSON.stringify(state, null, 2)}\n`);
        const moved = switches.map((s) => ({ queue: s.queue.name, from: s.queue.broker.type, to: s.settings.type, moved: s.moved, left: 0 }));
        if (options.json) printJson({ switched: moved, stateFile: file });
        else {
          for (const m of moved) printLine(`queue ${m.queue}: ${m.from} -> ${m.to}, ${m.moved} pending task(s) moved`);
          printLine(`saved in ${file}`);
        }
      });
    });
}

/** One queue of a switch: the queue on its current broker, and the same queue on the new one. */
interface Switch {
  queue: Queue;
  target: Queue;
  settings: BrokerSettings;
  /** False when nothing can be left behind: the old broker is sync, or it is the same storage. */
  moves: boolean;
  moved: number;
}

/** What keeps a queue's old broker from being empty. */
interface Held {
  queue: Queue;
  /** Held by consumers under a live lease. */
  leased: number;
  /** The rest: arrived since the last move (enqueued by processes still on the old config). */
  waiting: number;
  /**
   * On a broker that cannot list its delayed messages (SQS): everything left, in flight (held by
   * workers, or given back with a delay) or delayed, which it does not tell apart.
   */
  hidden?: number;
}

/** Whether the broker can list its delayed messages, so that they move at once (not SQS). */
function lists(queue: Queue): boolean {
  return typeof queue.broker.receiveDelayed === 'function';
}

function oldBroker(queue: Queue): string {
  return queue.broker.type === 'sqs' ? 'SQS' : `the old broker (${queue.broker.type})`;
}

function refusal(h: Held): string {
  if (h.hidden) {
    return `queue ${h.queue.name}: ${h.hidden} message(s) in flight or delayed on ${oldBroker(h.queue)} (held by running workers, given back to run later, or enqueued with a delay); they cannot move before they are visible again, and switching now would strand them there. Stop those workers and run this again once their tasks are done, or add --force to wait for them`;
  }
  if (h.leased === 0) return stillHeld(h);
  return `queue ${h.queue.name}: ${h.leased} task(s) held by running workers on the old broker (${h.queue.broker.type}); switching now would strand them there. Stop those workers (they give back the tasks they have not started and finish the running ones) and run this again, or add --force to wait for them`;
}

function stillHeld(h: Held): string {
  if (h.hidden) return `queue ${h.queue.name}: ${h.hidden} message(s) still in flight or delayed on ${oldBroker(h.queue)}`;
  const parts = [h.leased > 0 ? `${h.leased} task(s) still held by running workers` : '', h.waiting > 0 ? `${h.waiting} task(s) still arriving (enqueued by processes that use the old config)` : ''];
  return `queue ${h.queue.name}: ${parts.filter(Boolean).join(' and ')} on the old broker (${h.queue.broker.type})`;
}

/** Drain rounds that follow each other at once, before the drain sleeps between rounds. */
const QUICK_ROUNDS = 3;
const POLL_MS = 1_000;
const PROGRESS_MS = 10_000;

/**
 * Moves what waits on the old brokers, round after round, until every old queue is empty in one
 * round (then `held` is empty) or `deadline` passes, or SIGINT/SIGTERM interrupts the wait. Tasks
 * held by workers move once they come back: released, retried or with their lease run out.
 * Every queue is moved in every round, so that what arrives meanwhile moves too.
 */
async function drain(
  switches: Switch[],
  transferTo: (target: Queue) => (messages: OutgoingMessage[]) => Promise<void>,
  deadline: number,
  report: (line: string) => void,
): Promise<{ held: Held[]; interrupted: boolean }> {
  const stop = new AbortController();
  const onSignal = () => stop.abort();
  const waits = deadline > Date.now();
  // One signal gives up (and puts back what moved); a second one ends the process at once.
  if (waits) for (const signal of STOP_SIGNALS) process.once(signal, onSignal);
  try {
    let nextReport = 0;
    for (let round = 1; ; round++) {
      const held: Held[] = [];
      for (const s of switches) {
        s.moved += await moveMessages(s.queue, s.target, transferTo(s.target));
        const left = await s.queue.count();
        if (left === 0) continue;
        if (!lists(s.queue)) {
          held.push({ queue: s.queue, leased: 0, waiting: 0, hidden: left });
          continue;
        }
        const leased = await s.queue.broker.countLeased(s.queue.name);
        held.push({ queue: s.queue, leased, waiting: Math.max(0, left - leased) });
      }
      if (held.length === 0) return { held, interrupted: false };
      if (round < QUICK_ROUNDS) continue;
      if (stop.signal.aborted || Date.now() >= deadline) return { held, interrupted: stop.signal.aborted };
      if (Date.now() >= nextReport) {
        for (const h of held) {
          if (h.hidden) report(`queue ${h.queue.name}: waiting for ${h.hidden} message(s) in flight or delayed on ${oldBroker(h.queue)}…`);
          else report(`queue ${h.queue.name}: waiting for ${h.leased} leased task(s) on the old broker${h.waiting > 0 ? `, ${h.waiting} more arriving` : ''}…`);
        }
        if (nextReport === 0) report('  they move once their workers finish or give them back; Ctrl-C gives up and moves back what moved');
        nextReport = Date.now() + PROGRESS_MS;
      }
      await sleep(Math.min(POLL_MS, deadline - Date.now()), stop.signal);
    }
  } finally {
    for (const signal of STOP_SIGNALS) process.off(signal, onSignal);
  }
}

const STOP_SIGNALS = ['SIGINT', 'SIGTERM'] as const;

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done);
  });
}

/**
 * Moves every waiting message from `from` to `to`: visible ones under a lease, then delayed ones
 * with their run-at time (where the broker lists them: SQS does not, its delayed messages move
 * once visible); returns how many moved. Each batch is acknowledged only once the target
 * holds it (or ran it, for a sync target): a crash in between leaves a duplicate, never a loss,
 * and the task log stops the duplicate from running twice. Messages leased by a running worker
 * stay: `drain` moves them when they come back.
 */
async function moveMessages(from: Queue, to: Queue, transfer: (messages: OutgoingMessage[]) => Promise<void>): Promise<number> {
  if (from.isSync() || sameStorage(from, to)) return 0;
  let moved = 0;
  // A new publish of each task: a broker that drops repeated sends (SQS FIFO drops a task id it
  // saw in the last five minutes) must take a task that moved away and comes back.
  const move = `moved:${Date.now()}:${randomUUID().slice(0, 8)}`;
  const outgoing = (batch: ReceivedMessage[]): OutgoingMessage[] =>
    batch.map((m) => {
      const taskId = m.taskId ?? m.id;
      return { taskId, body: m.body, runAt: m.runAt, deduplicationId: `${taskId}:${move}`, ...(m.groupId !== undefined ? { groupId: m.groupId } : {}) };
    });
  for (;;) {
    // A short wait: SQS's short poll samples a few of its servers and may answer nothing for a
    // queue that holds messages; brokers that answer exactly ignore it.
    const batch = await from.broker.receive(from.name, MOVE_BATCH, 10 * 60_000, { waitMs: 1_000 });
    if (batch.length === 0) break;
    try {
      await transfer(outgoing(batch));
    } catch (error) {
      // Not moved: visible again at once on the old broker, not at the end of the move's lease.
      await Promise.all(batch.map((message) => from.broker.release(from.name, message, 0))).catch(() => undefined);
      throw error;
    }
    // Ten together: a broker that batches acknowledgements (SQS) sends them as one call.
    for (let i = 0; i < batch.length; i += 10) await Promise.all(batch.slice(i, i + 10).map((message) => from.broker.acknowledge(from.name, message)));
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
  return moved;
}

/**
 * Same type and same place (connection and table; for SQS endpoint, region, profile and queue
 * names): the messages are already where they would move to.
 */
function sameStorage(a: Queue, b: Queue): boolean {
  const x = a.broker.describe();
  const y = b.broker.describe();
  if (x.type !== y.type || x.type === 'memory') return false;
  if (x.type !== 'sqs') return x.connection === y.connection && x.table === y.table;
  // Unset region and profile come from the environment, the same for both here.
  const region = (d: typeof x) => d.region ?? process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION;
  const profile = (d: typeof x) => d.profile ?? process.env.AWS_PROFILE;
  return x.endpoint === y.endpoint && region(x) === region(y) && profile(x) === profile(y) && x.queuePrefix === y.queuePrefix && x.queueName === y.queueName && (x.fifo ?? false) === (y.fifo ?? false);
}

/**
 * The SQS settings a switch persists: the flags, else the queue's current SQS settings (when it is
 * on SQS already, its other options stay). Never credentials: those come from the AWS chain.
 */
function sqsSettings(options: InitializeOptions, current: BrokerSettings | undefined): BrokerSettings {
  const base: Extract<BrokerSettings, { type: 'sqs' }> = current?.type === 'sqs' ? { ...current } : { type: 'sqs' };
  const flags = { region: options.region, endpoint: options.endpoint, profile: options.awsProfile, queuePrefix: options.queuePrefix, receive: options.receive };
  for (const [key, value] of Object.entries(flags)) if (value !== undefined) Object.assign(base, { [key]: value });
  return base;
}
