/**
 * The conformance suite on a real PostgreSQL server (TASKQ_TEST_PG_URL, e.g.
 * postgres://postgres@127.0.0.1:5432/test). Each run creates its own database and drops it.
 */
import { randomBytes } from 'node:crypto';
import { Client } from 'pg';
import { RdsQueueBroker, RdsTaskLogBroker } from '../../src';
import { describeBrokerConformance } from './queueBrokerConformance';

const baseUrl = process.env.TASKQ_TEST_PG_URL;
const database = `taskq_test_${process.pid}_${randomBytes(4).toString('hex')}`;

async function admin(sql: string): Promise<void> {
  const client = new Client({ connectionString: baseUrl });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

if (!baseUrl) {
  // Visible in the run's output; .ci/run sets the variable and fails on skipped tests.
  console.warn('TASKQ_TEST_PG_URL is not set: the PostgreSQL conformance suite is skipped');
  test.skip('PostgreSQL conformance (TASKQ_TEST_PG_URL not set)', () => undefined);
} else {
  const url = new URL(baseUrl);
  url.pathname = `/${database}`;
  const connection = url.toString();
  let n = 0;

  beforeAll(() => admin(`CREATE DATABASE ${database}`));
  afterAll(() => admin(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`));

  describeBrokerConformance('postgres', async () => {
    // Tables of their own per test, so a test never sees another's leftovers.
    const suffix = ++n;
    const queueBroker = new RdsQueueBroker({ connection, receive: 5, table: `messages_${suffix}` });
    const second = new RdsQueueBroker({ connection, receive: 5, table: `messages_${suffix}` });
    const taskLogBroker = new RdsTaskLogBroker({ connection, table: `task_log_${suffix}` });
    await taskLogBroker.createContainer();
    return {
      queueBroker,
      second,
      taskLogBroker,
      async cleanup() {
        await queueBroker.close();
        await second.close();
        await taskLogBroker.close();
      },
    };
  });
}
