/**
 * A worker process of the PostgreSQL side-by-side benchmark: one worker of one system (taskq,
 * graphile-worker or pg-boss), as a deployment runs it in a process of its own. Forked by
 * workerProcessGroup.ts with a PeerWorkerJob as its one argument; speaks workerProtocol.ts.
 */
import { now } from '../common';
import { createPeer } from './createPeer';
import type { JobRan } from './peer';
import { type ChildMessage, type ParentMessage, PROGRESS_MS, type PeerWorkerJob, isParentMessage } from './workerProtocol';

function send(message: ChildMessage): Promise<void> {
  return new Promise((resolve, reject) => {
    if (!process.send) return reject(new Error('peerWorker must be started by the benchmark (fork with IPC)'));
    process.send(message, (error: Error | null) => (error ? reject(error) : resolve()));
  });
}

/** Resolves when the parent sends a message of `type` (or has sent it already). */
function parentSays(type: ParentMessage['type']): Promise<void> {
  return new Promise((resolve) => {
    const listen = (message: unknown) => {
      if (isParentMessage(message) && message.type === type) {
        process.off('message', listen);
        resolve();
      }
    };
    process.on('message', listen);
  });
}

let finished = false;

async function main(): Promise<void> {
  // An orphan (the bench process died) must not go on holding connections to the database.
  process.once('disconnect', () => {
    if (!finished) process.exit(1);
  });
  const job = JSON.parse(process.argv[2]) as PeerWorkerJob;
  const peer = await createPeer(job.url, job.variant.settings);
  await peer.connectWorker();

  let ran = 0;
  let lastRanAt = 0;
  const latencies: number[] = [];
  const onJob: JobRan = (payload) => {
    const at = now();
    ran++;
    lastRanAt = at;
    if (job.recordLatency && payload.w !== 1) latencies.push(at - payload.t);
  };

  // Listening before saying ready: the start may follow at once.
  const start = parentSays('start');
  const stop = parentSays('stop');
  await send({ type: 'ready' });
  await start;
  const worker = await peer.startWorker(job.concurrency, onJob);
  await send({ type: 'started' });
  let reported = 0;
  const progress = setInterval(() => {
    if (ran === reported) return;
    reported = ran;
    send({ type: 'progress', ran, lastRanAt }).catch(() => undefined);
  }, PROGRESS_MS);
  await stop;
  clearInterval(progress);
  await worker.stop();
  await peer.close();
  await send({ type: 'stopped', ran, lastRanAt, latencies });
  finished = true;
  process.disconnect();
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
