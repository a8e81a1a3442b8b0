/**
 * The worker process of the worker-memory run: one taskq Worker on PostgreSQL, as `taskq
 * run-worker` runs it, that samples its own memory (RSS and heap used, after a full GC when
 * started with --expose-gc) every `sampleEvery` tasks. Forked by workerMemory.ts; speaks
 * memoryProtocol.ts.
 */
import { type MemoryChildMessage, MEMORY_PROGRESS_MS, type MemoryWorkerJob, isMemoryParentMessage } from './memoryProtocol';
import { TaskqPeer } from './taskqPeer';

const MiB = 2 ** 20;

function send(message: MemoryChildMessage): void {
  process.send?.(message);
}

function parentSays(type: 'start' | 'stop'): Promise<void> {
  return new Promise((resolve) => {
    const listen = (message: unknown) => {
      if (isMemoryParentMessage(message) && message.type === type) {
        process.off('message', listen);
        resolve();
      }
    };
    process.on('message', listen);
  });
}

let finished = false;

async function main(): Promise<void> {
  if (!process.send) throw new Error('memoryWorker must be started by the benchmark (fork with IPC)');
  process.once('disconnect', () => {
    if (!finished) process.exit(1);
  });
  const job = JSON.parse(process.argv[2]) as MemoryWorkerJob;
  const gc = (globalThis as { gc?: () => void }).gc;
  const peer = new TaskqPeer(job.url, job.settings);
  await peer.connectWorker();

  let startedAt = 0;
  const sample = (tasks: number) => {
    gc?.();
    const usage = process.memoryUsage();
    send({
      type: 'sample',
      sample: { tasks, seconds: (performance.now() - startedAt) / 1000, rssMiB: usage.rss / MiB, heapUsedMiB: usage.heapUsed / MiB, afterGc: gc !== undefined },
    });
  };

  let ran = 0;
  const start = parentSays('start');
  const stop = parentSays('stop');
  send({ type: 'ready' });
  await start;
  startedAt = performance.now();
  sample(0);
  const worker = await peer.startWorker(job.concurrency, () => {
    ran++;
    // Out of the task: the sample (and its GC) runs between tasks, not inside one.
    if (ran % job.sampleEvery === 0) {
      const at = ran;
      setImmediate(() => sample(at));
    }
  });
  let reported = 0;
  const progress = setInterval(() => {
    if (ran === reported) return;
    reported = ran;
    send({ type: 'progress', ran });
  }, MEMORY_PROGRESS_MS);
  await stop;
  clearInterval(progress);
  await worker.stop();
  await peer.close();
  send({ type: 'stopped', ran });
  finished = true;
  process.disconnect();
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
