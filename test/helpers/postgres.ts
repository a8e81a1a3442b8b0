import { randomBytes } from 'node:crypto';
import { Client } from 'pg';

export interface PostgresDatabaseOptions {
  /**
   * Create the database with this ICU locale (PostgreSQL 15+) as its collation, e.g. 'en-US': the
   * kind of collation a production database has, under which text sorts and folds case unlike
   * the server's C.UTF-8 default.
   */
  icuLocale?: string;
}

async function admin(baseUrl: string, sql: string): Promise<void> {
  const client = new Client({ connectionString: baseUrl });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

/**
 * A database of this test file's own on the PostgreSQL server that TASKQ_TEST_PG_URL names
 * (postgres://postgres@127.0.0.1:5432/test): created before the file's tests and dropped after
 * them. Returns its connection URL. The server outlives the run, so the name is unique and the
 * drop is forced (a pool a failed test left open must not keep the database alive).
 *
 * Without TASKQ_TEST_PG_URL it returns undefined, warns, and registers a skipped test, so the skip
 * shows in the run's output and `.ci/run`, which fails on skipped tests, catches it.
 */
export function usePostgresDatabase(suite: string, options: PostgresDatabaseOptions = {}): string | undefined {
  const baseUrl = process.env.TASKQ_TEST_PG_URL;
  if (!baseUrl) {
    console.warn(`TASKQ_TEST_PG_URL is not set: the PostgreSQL ${suite} suite is skipped`);
    test.skip(`PostgreSQL ${suite} (TASKQ_TEST_PG_URL not set)`, () => undefined);
    return undefined;
  }
  const { icuLocale } = options;
  if (icuLocale !== undefined && !/^[A-Za-z0-9_-]+$/.test(icuLocale)) throw new Error(`icuLocale "${icuLocale}" is not a locale name`);
  const database = `taskq_test_${process.pid}_${randomBytes(4).toString('hex')}`;
  const locale = icuLocale ? ` TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE '${icuLocale}'` : '';
  const url = new URL(baseUrl);
  url.pathname = `/${database}`;

  beforeAll(() => admin(baseUrl, `CREATE DATABASE ${database}${locale}`));
  afterAll(() => admin(baseUrl, `DROP DATABASE IF EXISTS ${database} WITH (FORCE)`));
  return url.toString();
}
