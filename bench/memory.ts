/**
 * Scenarios 1 and 2: the in-memory brokers, everything in this process.
 */
import { InMemoryQueueBroker, InMemoryTaskLogBroker, Queue, QueueDispatcher, TaskLog, Worker, silentLogger } from '../src';
import { BenchNoop, type BenchResult, LatencyRecorder, type ScenarioOptions, median, now, percentiles, recordInto, scaled, yieldToLoop } from './common';
import { pace } from './pace';

function memoryDispatcher(sync: boolean, receive = 100): QueueDispatcher {
  return new QueueDispatcher({
    queues: [new Queue('bench', sync ? new InMemoryQueueBroker() : new InMemoryQueueBroker({ sync: false, receive }))],
    taskLog: new TaskLog(new InMemoryTaskLogBroker()),
    tasks: [BenchNoop],
    logger: silentLogger,
  });
}

/**
 * 1. The sync queue: `enqueue` logs the task, runs it and logs its report before it resolves.
 * Sequential awaited enqueues, as application code does them.
 */
export async function memorySync(options: ScenarioOptions): Promise<BenchResult[]> {
  const warm = scaled(50_000, options);
  const perRound = scaled(200_000, options);
  const rounds = 5;
  const dispatcher = memoryDispatcher(true);
  await dispatcher.initialize();
  const recorder = new LatencyRecorder();
  recordInto(null);
  options.progress(`memory-sync: warm-up ${warm}`);
  for (let i = 0; i < warm; i++) await dispatcher.enqueue(new BenchNoop({ t: now() }));
  recordInto(recorder);
  const rates: number[] = [];
  for (let r = 0; r < rounds; r++) {
    await yieldToLoop();
    const start = now();
    for (let i = 0; i < perRound; i++) await dispatcher.enqueue(new BenchNoop({ t: now() }));
    rates.push((perRound / (now() - start)) * 1000);
    options.progress(`memory-sync: round ${r + 1}/${rounds}: ${Math.round(rates[r])} tasks/s`);
  }
  recordInto(null);
  await dispatcher.close();
  return [
    {
      scenario: 'memory-sync',
      case: 'enqueue runs the task',
      tasks: perRound * rounds,
      tasksPerSec: median(rates),
      latency: percentiles(recorder.values()),
      target: 200_000,
      details: { rounds, perRound, warmup: warm, perRoundRates: rates.map((x) => Math.round(x)).join('/') },
    },
  ];
}

/**
 * 2. The in-process async queue (`sync: false`) with a Worker in the same process.
 * drain: N tasks enqueued first (one `enqueue` each), then one Worker runs them all.
 * paced: a producer enqueues one task at a time at a steady rate while the Worker runs; the
 * enqueue→start latency is the queue's pick-up delay (the dispatcher wakes a same-process worker).
 */
export async function memoryAsync(options: ScenarioOptions): Promise<BenchResult[]> {
  const receive = 100;
  const results: BenchResult[] = [];
  for (const concurrency of [1, 8]) {
    const warm = scaled(50_000, options);
    // At most 50,000 queued at once: the memory task log's maxEntries is 100,000, and past it
    // every add scans the whole log (see docs/benchmarks.md), which would swamp the figure.
    const n = scaled(50_000, options);
    const rounds = 5;
    const dispatcher = memoryDispatcher(false, receive);
    await dispatcher.initialize();
    recordInto(null);

    options.progress(`memory-async c=${concurrency}: warm-up ${warm}`);
    for (let i = 0; i < warm; i++) await dispatcher.enqueue(new BenchNoop({ t: now(), w: 1 }));
    await new Worker(dispatcher, { concurrency, prefetch: receive - concurrency, limit: warm, logger: silentLogger }).run();

    const drainRates: number[] = [];
    const enqueueRates: number[] = [];
    const endToEndRates: number[] = [];
    for (let r = 0; r < rounds; r++) {
      await yieldToLoop();
      const enqueueStart = now();
      for (let i = 0; i < n; i++) await dispatcher.enqueue(new BenchNoop({ t: now(), w: 1 }));
      const enqueueMs = now() - enqueueStart;
      await yieldToLoop();
      const runStart = now();
      const stats = await new Worker(dispatcher, { concurrency, prefetch: receive - concurrency, limit: n, logger: silentLogger }).run();
      const drainMs = now() - runStart;
      if (stats.completed !== n) throw new Error(`memory-async: ${stats.completed} of ${n} tasks completed`);
      drainRates.push((n / drainMs) * 1000);
      enqueueRates.push((n / enqueueMs) * 1000);
      endToEndRates.push((n / (enqueueMs + drainMs)) * 1000);
      options.progress(`memory-async c=${concurrency}: round ${r + 1}/${rounds}: enqueue ${Math.round(enqueueRates[r])}/s, drain ${Math.round(drainRates[r])}/s`);
    }
    results.push({
      scenario: 'memory-async',
      case: `drain, c=${concurrency}`,
      tasks: n * rounds,
      tasksPerSec: median(drainRates),
      latency: null,
      details: { receive, concurrency, rounds, perRound: n, perRoundRates: drainRates.map((x) => Math.round(x)).join('/'), enqueuePerSec: Math.round(median(enqueueRates)), endToEndPerSec: Math.round(median(endToEndRates)) },
    });

    const rate = 10_000;
    const measureMs = Math.max(500, Math.round(3000 * Math.min(1, options.scale)));
    options.progress(`memory-async c=${concurrency}: paced ${rate}/s for ${measureMs} ms`);
    const recorder = new LatencyRecorder();
    recordInto(recorder);
    const worker = new Worker(dispatcher, { concurrency, prefetch: receive - concurrency, logger: silentLogger });
    const running = worker.run();
    const paced = await pace(rate, 500, measureMs, async (w) => {
      await dispatcher.enqueue(new BenchNoop(w ? { t: now(), w: 1 } : { t: now() }));
    });
    while (recorder.count < paced.sent) await yieldToLoop();
    await worker.stop();
    await running;
    recordInto(null);
    results.push({
      scenario: 'memory-async',
      case: `paced ${rate}/s, c=${concurrency}`,
      tasks: paced.sent,
      tasksPerSec: paced.rate,
      latency: percentiles(recorder.values()),
      details: { receive, concurrency, offeredPerSec: rate },
    });
    await dispatcher.close();
  }
  return results;
}
