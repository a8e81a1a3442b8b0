/**
 * SqlExecutor.exclusive, as the limited claims and the migrations use it: work under the lock
 * sees every write of the work before it, across processes (here, two pools of their own).
 * A read-then-write counter loses increments if the lock is given back before the commit (as it
 * was on MySQL: the next holder's snapshot missed the last one's claim, and maxConcurrent ran
 * over by one).
 */
import knex from 'knex';
import { KnexExecutor, type SqlExecutor } from '../../brokers/rds/sqlExecutor';
import { useMysqlDatabase } from '../helpers/mysql';
import { usePostgresDatabase } from '../helpers/postgres';

const databases: ['postgres' | 'mysql', string, string][] = [];
const pg = usePostgresDatabase('exclusive');
if (pg) databases.push(['postgres', 'pg', pg]);
const mysql = useMysqlDatabase('exclusive');
if (mysql) databases.push(['mysql', 'mysql2', mysql]);

describe.each(databases)('%s: exclusive work', (dialect, client, url) => {
  const pools = [0, 1].map(() => knex({ client, connection: url, pool: { min: 0, max: 10 } }));
  const executors: SqlExecutor[] = pools.map((pool) => new KnexExecutor(dialect, pool));
  afterAll(() => Promise.all(executors.map((exec) => exec.close())));

  test('200 read-then-write increments from two pools at once lose none', async () => {
    await executors[0].run('CREATE TABLE exclusive_counter (id INTEGER PRIMARY KEY, n INTEGER NOT NULL)');
    await executors[0].run('INSERT INTO exclusive_counter (id, n) VALUES (1, 0)');
    const increment = (exec: SqlExecutor) =>
      exec.exclusive('taskq test counter', async (session) => {
        const [row] = await session.all<{ n: number | string }>('SELECT n FROM exclusive_counter WHERE id = 1');
        await session.run('UPDATE exclusive_counter SET n = ? WHERE id = 1', [Number(row.n) + 1]);
      });
    await Promise.all(Array.from({ length: 200 }, (_, i) => increment(executors[i % 2])));
    const [row] = await executors[1].all<{ n: number | string }>('SELECT n FROM exclusive_counter WHERE id = 1');
    expect(Number(row.n)).toBe(200);
  });

  test('work that throws rolls back and gives the lock back', async () => {
    await executors[0].run('CREATE TABLE exclusive_rollback (id INTEGER PRIMARY KEY)');
    await expect(
      executors[0].exclusive('taskq test rollback', async (session) => {
        await session.run('INSERT INTO exclusive_rollback (id) VALUES (1)');
        throw new Error('no');
      }),
    ).rejects.toThrow('no');
    expect(await executors[1].all('SELECT id FROM exclusive_rollback')).toEqual([]);
    // Taken again at once, from the other pool: the failed work did not keep it.
    await executors[1].exclusive('taskq test rollback', (session) => session.run('INSERT INTO exclusive_rollback (id) VALUES (2)'));
    expect((await executors[0].all<{ id: number }>('SELECT id FROM exclusive_rollback')).map((r) => Number(r.id))).toEqual([2]);
  });
});
