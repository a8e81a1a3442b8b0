import { mask } from '../../brokers/rds/connection';
import { ThrowawayDatabase } from './pgDatabase';
import { ThrowawayPgServer } from './throwawayPgServer';

/** The machine's server, when the bench cannot start its own and TASKQ_BENCH_PG_URL is not set. */
export const FALLBACK_PG_URL = 'postgres://postgres@127.0.0.1:5432/postgres';

/**
 * Where a PostgreSQL run measures: a throwaway database on the server TASKQ_BENCH_PG_URL names;
 * else on a throwaway server the bench starts (ThrowawayPgServer: needs root and PostgreSQL's
 * binaries); else, saying why, on the machine's server at 127.0.0.1:5432. `close` drops the
 * database and stops and removes a server of the bench's own.
 */
export class PgTarget {
  private constructor(
    readonly db: ThrowawayDatabase,
    /** In words, for the output: which server. */
    readonly server: string,
    private readonly ownServer: ThrowawayPgServer | undefined,
  ) {}

  static async open(progress: (message: string) => void): Promise<PgTarget> {
    const given = process.env.TASKQ_BENCH_PG_URL;
    if (given) {
      progress(`postgres: TASKQ_BENCH_PG_URL ${mask(given)}`);
      return new PgTarget(await ThrowawayDatabase.create(given), `the server TASKQ_BENCH_PG_URL names (${mask(given)})`, undefined);
    }
    const problem = ThrowawayPgServer.problem();
    if (problem) {
      progress(`postgres: cannot start a server of the bench's own (${problem}): using the machine's server at ${FALLBACK_PG_URL}, shared with whatever else it runs`);
      return new PgTarget(await ThrowawayDatabase.create(FALLBACK_PG_URL), `the machine's server ${FALLBACK_PG_URL} (could not start one: ${problem})`, undefined);
    }
    progress('postgres: starting a throwaway server (initdb, fsync on)');
    const server = await ThrowawayPgServer.start();
    try {
      const port = new URL(server.url).port;
      return new PgTarget(await ThrowawayDatabase.create(server.url), `a throwaway server the bench started (initdb, PostgreSQL ${server.majorVersion}'s defaults, fsync on, 127.0.0.1:${port})`, server);
    } catch (error) {
      server.destroy();
      throw error;
    }
  }

  /** Drops the database, then stops and removes a server of the bench's own; idempotent. */
  async close(): Promise<void> {
    try {
      await this.db.drop();
    } finally {
      this.ownServer?.destroy();
    }
  }
}
