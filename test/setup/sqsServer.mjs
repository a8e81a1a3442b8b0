/**
 * Jest global setup: one SQS-compatible server (fauxqs, in this process, port 0) for every test
 * file; its address reaches the tests (and the CLI processes they start) as
 * TASKQ_TEST_SQS_ENDPOINT. An ES module because fauxqs is one, and jest's test sandboxes cannot
 * import those.
 */
import { startFauxqs } from 'fauxqs';

export default async function startSqsServer() {
  const server = await startFauxqs({ port: 0, logger: false, host: '127.0.0.1' });
  globalThis.__taskqSqsServer = server;
  process.env.TASKQ_TEST_SQS_ENDPOINT = `http://127.0.0.1:${server.port}`;
}
