import type { QueueTally, SqlRunner } from './peer';
import { QUEUE } from './variants';

/** pg-boss's default schema, in 10 and 12 alike. */
export const PG_BOSS_SCHEMA = 'pgboss';

/** Jobs of the bench's queue by state, as pg-boss 10 and 12 both keep them (its job table). */
export async function tallyPgBossJobs(sql: SqlRunner): Promise<QueueTally> {
  const rows = await sql.query<{ state: string; n: string }>(`SELECT state, count(*) AS n FROM ${PG_BOSS_SCHEMA}.job WHERE name = $1 GROUP BY state`, [QUEUE]);
  let completed = 0;
  let unfinished = 0;
  for (const row of rows) {
    if (row.state === 'completed') completed += Number(row.n);
    else unfinished += Number(row.n);
  }
  return { completed, unfinished };
}
