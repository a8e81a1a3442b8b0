/**
 * fauxqs in a process of its own, for the SQS benchmark: SQS is a remote service, so the server
 * must not take the CPU of the process it measures. Started by startSqsServer below with fork();
 * it reports its port, then serves until its parent disconnects.
 */
import { fork } from 'node:child_process';

export interface SqsServer {
  port: number;
  stop(): Promise<void>;
}

/** Forks this file as the server process and waits for its port. */
export function startSqsServer(): Promise<SqsServer> {
  const child = fork(__filename, ['--serve'], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`the fauxqs process exited (code ${code}) before it listened`)));
    child.once('message', (message: { port: number }) => {
      child.removeAllListeners('exit');
      resolve({
        port: message.port,
        stop: () =>
          new Promise<void>((done) => {
            child.once('exit', () => done());
            child.kill();
          }),
      });
    });
  });
}

async function serve(): Promise<void> {
  // fauxqs is ESM-only; TypeScript (module node16) keeps this import() in the CommonJS output.
  const { startFauxqs } = await import('fauxqs');
  const server = await startFauxqs({ port: 0, logger: false, host: '127.0.0.1' });
  process.send?.({ port: server.port });
  process.once('disconnect', () => void server.stop().then(() => process.exit(0)));
}

if (require.main === module && process.argv.includes('--serve')) void serve();
