import { randomUUID } from 'node:crypto';
import { SqsQueueBroker, type SqsQueueBrokerOptions } from '../../src';

/** The fauxqs server test/setup/sqsServer.mjs started for this run. */
export function sqsEndpoint(): string {
  const endpoint = process.env.TASKQ_TEST_SQS_ENDPOINT;
  if (!endpoint) throw new Error('TASKQ_TEST_SQS_ENDPOINT is not set: jest starts fauxqs in its global setup (jest.config.ts)');
  return endpoint;
}

/** Any keys do for fauxqs; given in code so the tests need none in the environment. */
export const TEST_CREDENTIALS = { accessKeyId: 'test', secretAccessKey: 'test' };

/** The environment a CLI process needs to reach the test server. */
export function sqsEnv(): Record<string, string> {
  return { AWS_ACCESS_KEY_ID: 'test', AWS_SECRET_ACCESS_KEY: 'test', AWS_REGION: 'us-east-1' };
}

/** A queue prefix no other test (or run) shares. */
export function uniquePrefix(): string {
  return `t${randomUUID().slice(0, 8)}-`;
}

export function sqsBroker(options: SqsQueueBrokerOptions = {}): SqsQueueBroker {
  return new SqsQueueBroker({ endpoint: sqsEndpoint(), region: 'us-east-1', credentials: TEST_CREDENTIALS, waitTimeSeconds: 1, ...options });
}
