/**
 * The conformance suite on a real PostgreSQL server (TASKQ_TEST_PG_URL, e.g.
 * postgres://postgres@127.0.0.1:5432/test). Each run creates its own database and drops it.
 */
import { randomBytes } from 'node:crypto';
import { Client } from 'pg';
import { describeBrokerConformance } from './queueBrokerConformance';
import { rdsUnderTest } from './rdsUnderTest';

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

  // Tables of their own per test, so a test never sees another's leftovers.
  describeBrokerConformance('postgres', async () => {
    const suffix = ++n;
    return rdsUnderTest(connection, { messages: `messages_${suffix}`, taskLog: `task_log_${suffix}` });
  });
}
