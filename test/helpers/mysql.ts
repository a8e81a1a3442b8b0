import { randomBytes } from 'node:crypto';

async function admin(baseUrl: string, sql: string): Promise<void> {
  const mysql = require('mysql2/promise') as typeof import('mysql2/promise');
  const connection = await mysql.createConnection(baseUrl);
  try {
    await connection.query(sql);
  } finally {
    await connection.end();
  }
}

/**
 * A database of this test file's own on the MySQL or MariaDB server that TASKQ_TEST_MYSQL_URL
 * names (mysql://root@127.0.0.1:3306/test): created before the file's tests and dropped after
 * them. Returns its connection URL.
 *
 * Without TASKQ_TEST_MYSQL_URL it returns undefined, warns, and registers a skipped test, so the
 * skip shows in the run's output and `.ci/run`, which fails on skipped tests, catches it.
 */
export function useMysqlDatabase(suite: string): string | undefined {
  const baseUrl = process.env.TASKQ_TEST_MYSQL_URL;
  if (!baseUrl) {
    console.warn(`TASKQ_TEST_MYSQL_URL is not set: the MySQL ${suite} suite is skipped`);
    test.skip(`MySQL ${suite} (TASKQ_TEST_MYSQL_URL not set)`, () => undefined);
    return undefined;
  }
  const database = `taskq_test_${process.pid}_${randomBytes(4).toString('hex')}`;
  const url = new URL(baseUrl);
  url.pathname = `/${database}`;
  beforeAll(() => admin(baseUrl, `CREATE DATABASE ${database}`));
  afterAll(() => admin(baseUrl, `DROP DATABASE IF EXISTS ${database}`));
  return url.toString();
}
