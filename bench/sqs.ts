/**
 * Scenario 5: SQS, on fauxqs (an SQS emulator) started in a process of its own, measured two ways in one
 * run: the AWS SDK alone (a bare SendMessageBatch / ReceiveMessage / DeleteMessageBatch loop) and
 * taskq (`dispatcher.enqueueMany` + `Worker`s on an `SqsQueueBroker`), with the same task count,
 * the same number of consumers, batches of ten both ways. See docs/benchmarks.md, "SQS (fauxqs)".
 */
import { randomUUID } from 'node:crypto';
import type { SQSClient } from '@aws-sdk/client-sqs';
import { InMemoryTaskLogBroker, Queue, QueueDispatcher, RdsTaskLogBroker, SqsQueueBroker, type TaskLogBroker, TaskLog, Worker, silentLogger } from '../src';
import { BenchNoop, type BenchResult, LatencyRecorder, type ScenarioOptions, median, now, percentiles, recordInto, scaled, sleep, yieldToLoop } from './common';
import { tempDatabase } from './sqliteSetup';
import { startSqsServer } from './sqsServerProcess';

type Sdk = typeof import('@aws-sdk/client-sqs');

const REGION = 'us-east-1';
/** fauxqs takes any keys; given in code, so the bench needs none in the environment. */
const CREDENTIALS = { accessKeyId: 'test', secretAccessKey: 'test' };
/** SQS's batch limit: ten messages per send, receive and delete, both ways. */
const BATCH = 10;
/** Tasks per producer call: one enqueueMany (ten SendMessageBatch calls inside) or ten bare SendMessageBatch calls. */
const CHUNK = 100;

/** One measured pass: N messages through the queue, producer and consumers running together. */
interface Pass {
  /** enqueue start → last delete (bare) / last task settled (taskq), ms. */
  ms: number;
  /** enqueue start → last send returned, ms. */
  enqueueMs: number;
  latencies: Float64Array;
}

type Variant = 'bare' | 'taskq-memory' | 'taskq-sqlite';

/**
 * Starts fauxqs, then for each consumer count runs every variant (bare SDK, taskq with the
 * in-memory task log, taskq with a SQLite-file task log) in rounds, alternating, and reports the
 * median round of each with its ratio to the bare loop.
 */
export async function sqsScenario(options: ScenarioOptions): Promise<BenchResult[]> {
  // In a process of its own, as a real SQS endpoint is: it does not share this process's CPU.
  const server = await startSqsServer();
  const endpoint = `http://127.0.0.1:${server.port}`;
  // As bin/taskq does: the SDK's Node 20 notice is not part of the figures.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  const sdk = require('@aws-sdk/client-sqs') as Sdk;
  const client = new sdk.SQSClient({ region: REGION, endpoint, credentials: CREDENTIALS });
  const results: BenchResult[] = [];
  try {
    const n = scaled(4_000, options, 200);
    // The SDK's request path and fauxqs take a few thousand requests to warm up (JIT; the first measured round was still slow after one thousand): each variant
    // runs this many first, unmeasured.
    const warm = scaled(3_000, options, 100);
    const rounds = 5;
    const variants: Variant[] = ['bare', 'taskq-memory', 'taskq-sqlite'];
    for (const consumers of [1, 4]) {
      const passes = new Map<Variant, Pass[]>(variants.map((v) => [v, []]));
      for (const variant of variants) {
        options.progress(`sqs ${variant}, consumers=${consumers}: warm-up ${warm}`);
        await runPass(variant, { sdk, client, endpoint, consumers, n: warm });
      }
      for (let r = 0; r < rounds; r++) {
        for (const variant of variants) {
          await yieldToLoop();
          const pass = await runPass(variant, { sdk, client, endpoint, consumers, n });
          (passes.get(variant) as Pass[]).push(pass);
          options.progress(`sqs ${variant}, consumers=${consumers}: round ${r + 1}/${rounds}: ${Math.round((n / pass.ms) * 1000)} tasks/s end to end (enqueue ${Math.round((n / pass.enqueueMs) * 1000)}/s)`);
        }
      }
      const bareRate = median((passes.get('bare') as Pass[]).map((p) => (n / p.ms) * 1000));
      for (const variant of variants) {
        const list = passes.get(variant) as Pass[];
        const rates = list.map((p) => (n / p.ms) * 1000);
        const rate = median(rates);
        const all = new Float64Array(list.reduce((sum, p) => sum + p.latencies.length, 0));
        let at = 0;
        for (const p of list) {
          all.set(p.latencies, at);
          at += p.latencies.length;
        }
        const details: BenchResult['details'] = {
          consumers,
          receive: BATCH,
          rounds,
          perRound: n,
          perRoundRates: rates.map((x) => Math.round(x)).join('/'),
          enqueuePerSec: Math.round(median(list.map((p) => (n / p.enqueueMs) * 1000))),
        };
        if (variant === 'bare') details.loop = `SendMessageBatch ×${BATCH}; ${consumers} consumer(s) ReceiveMessage(${BATCH}, wait 1 s) + DeleteMessageBatch`;
        else {
          details.taskLog = variant === 'taskq-memory' ? 'InMemoryTaskLogBroker' : 'RdsTaskLogBroker on a SQLite file';
          details.worker = `${consumers} Worker(s), concurrency ${BATCH}, receive ${BATCH}, prefetch 0`;
          details.ratioToBare = Math.round((rate / bareRate) * 1000) / 1000;
        }
        results.push({
          scenario: 'sqs',
          case: `${variant === 'bare' ? 'bare SDK loop' : variant === 'taskq-memory' ? 'taskq, memory log' : 'taskq, SQLite log'}, consumers=${consumers}`,
          tasks: n * rounds,
          tasksPerSec: rate,
          latency: percentiles(all),
          details,
        });
      }
    }
  } finally {
    client.destroy();
    await server.stop();
  }
  return results;
}

interface PassOptions {
  sdk: Sdk;
  client: SQSClient;
  endpoint: string;
  consumers: number;
  n: number;
}

function runPass(variant: Variant, options: PassOptions): Promise<Pass> {
  return variant === 'bare' ? barePass(options) : taskqPass(options, variant === 'taskq-memory' ? 'memory' : 'sqlite');
}

/** A fresh queue name per pass, so no pass sees another's messages. */
function queueName(): string {
  return `bench-${randomUUID().slice(0, 8)}`;
}

/**
 * The AWS SDK alone: one producer sending batches of ten, one after the other; `consumers` loops
 * each receiving up to ten (long poll of 1 s) and deleting what they got with one
 * DeleteMessageBatch. Latency is send call → receipt by a consumer.
 */
async function barePass({ sdk, client, consumers, n }: PassOptions): Promise<Pass> {
  const { CreateQueueCommand, DeleteQueueCommand, DeleteMessageBatchCommand, ReceiveMessageCommand, SendMessageBatchCommand } = sdk;
  const { QueueUrl } = await client.send(new CreateQueueCommand({ QueueName: queueName(), Attributes: { VisibilityTimeout: '30' } }));
  const url = QueueUrl as string;
  const latencies = new LatencyRecorder();
  let deleted = 0;
  let lastDelete = 0;
  const consume = async (): Promise<void> => {
    while (deleted < n) {
      const out = await client.send(new ReceiveMessageCommand({ QueueUrl: url, MaxNumberOfMessages: BATCH, WaitTimeSeconds: 1, VisibilityTimeout: 30 }));
      const messages = out.Messages ?? [];
      if (messages.length === 0) continue;
      const received = now();
      for (const m of messages) latencies.add(received - (JSON.parse(m.Body as string) as { t: number }).t);
      await client.send(new DeleteMessageBatchCommand({ QueueUrl: url, Entries: messages.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle })) }));
      deleted += messages.length;
      if (deleted >= n) lastDelete = now();
    }
  };
  const start = now();
  const consuming = Array.from({ length: consumers }, consume);
  for (let i = 0; i < n; i += CHUNK) {
    const t = now();
    for (let j = i; j < Math.min(n, i + CHUNK); j += BATCH) {
      const entries = Array.from({ length: Math.min(BATCH, n - j) }, (_, k) => ({ Id: String(k), MessageBody: JSON.stringify({ t, i: j + k }) }));
      const out = await client.send(new SendMessageBatchCommand({ QueueUrl: url, Entries: entries }));
      if (out.Failed?.length) throw new Error(`bare loop: ${out.Failed.length} messages not sent`);
    }
  }
  const enqueueMs = now() - start;
  await Promise.all(consuming);
  if (deleted !== n) throw new Error(`bare loop: ${deleted} of ${n} messages deleted`);
  await client.send(new DeleteQueueCommand({ QueueUrl: url }));
  return { ms: lastDelete - start, enqueueMs, latencies: latencies.values().slice() };
}

/**
 * taskq: one dispatcher on an SqsQueueBroker (the same endpoint), its task log in memory or in a
 * SQLite file; `consumers` Workers in this process (concurrency 10, receive 10, prefetch 0 as
 * the other `receive = concurrency` rows) run while the producer enqueues chunks of 100 with
 * `enqueueMany`. Timed from the first enqueue to the N-th settled task (its message deleted).
 */
async function taskqPass({ endpoint, consumers, n }: PassOptions, log: 'memory' | 'sqlite'): Promise<Pass> {
  const db = log === 'sqlite' ? tempDatabase() : undefined;
  const logBroker: TaskLogBroker = db ? new RdsTaskLogBroker({ connection: `sqlite:${db.file}` }) : new InMemoryTaskLogBroker();
  const broker = new SqsQueueBroker({ endpoint, region: REGION, credentials: CREDENTIALS, receive: BATCH, queuePrefix: `${queueName()}-` });
  const dispatcher = new QueueDispatcher({
    queues: [new Queue('tasks', broker)],
    taskLog: new TaskLog(logBroker),
    tasks: [BenchNoop],
    logger: silentLogger,
  });
  try {
    await dispatcher.initialize();
    const latencies = new LatencyRecorder();
    recordInto(latencies);
    const workers = Array.from({ length: consumers }, () => new Worker(dispatcher, { concurrency: BATCH, prefetch: 0, logger: silentLogger, lostTaskAfterMs: 0 }));
    const settled = () => workers.reduce((sum, w) => sum + w.stats.processed, 0);
    const start = now();
    const running = workers.map((w) => w.run());
    for (let i = 0; i < n; i += CHUNK) {
      const t = now();
      await dispatcher.enqueueMany(Array.from({ length: Math.min(CHUNK, n - i) }, () => new BenchNoop({ t })));
    }
    const enqueueMs = now() - start;
    while (settled() < n) await sleep(1);
    const ms = now() - start;
    recordInto(null);
    await Promise.all(workers.map((w) => w.stop()));
    await Promise.all(running);
    const completed = workers.reduce((sum, w) => sum + w.stats.completed, 0);
    if (completed !== n) throw new Error(`taskq on SQS: ${completed} of ${n} tasks completed`);
    await broker.dropContainer('tasks');
    return { ms, enqueueMs, latencies: latencies.values().slice() };
  } finally {
    recordInto(null);
    await dispatcher.close();
    db?.dispose();
  }
}
