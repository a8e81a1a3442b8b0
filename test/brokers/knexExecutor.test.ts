/**
 * KnexExecutor (PostgreSQL, MySQL/MariaDB): a failed statement's error carries the database's
 * message, neither the statement nor its values (errors are logged; values are task params and
 * reports). A statement or batch the database picks as a
 * deadlock's victim is tried again, whole, instead of failing its caller (a worker's
 * acknowledgement or result, which would otherwise wait out a lease). The deadlock is made on
 * purpose: another connection holds one row, the executor's write takes a second row and waits
 * for the first, then the other connection asks for the second.
 */
import { Client } from 'pg';
import { acquireConnection } from '../../brokers/rds/connection';
import { usePostgresDatabase } from '../helpers/postgres';
import { useMysqlDatabase } from '../helpers/mysql';
import { wait } from '../helpers/wait';

/** Another connection, outside the executor's pool, with its own transaction. */
interface OtherConnection {
  query(sql: string): Promise<unknown>;
  /** The error its statement got, if the database picked it as the victim instead. */
  end(): Promise<void>;
}

async function otherConnection(dialect: 'postgres' | 'mysql', url: string): Promise<OtherConnection> {
  if (dialect === 'postgres') {
    const client = new Client({ connectionString: url });
    await client.connect();
    return { query: (sql) => client.query(sql), end: () => client.end() };
  }
  const mysql = require('mysql2/promise') as typeof import('mysql2/promise');
  const connection = await mysql.createConnection(url);
  return { query: (sql) => connection.query(sql), end: () => connection.end() };
}

const setups: [string, 'postgres' | 'mysql', string | undefined][] = [
  ['PostgreSQL', 'postgres', usePostgresDatabase('KnexExecutor')],
  ['MariaDB', 'mysql', useMysqlDatabase('KnexExecutor')],
];

describe.each(setups.filter(([, , url]) => url !== undefined))('KnexExecutor on %s', (_name, dialect, url) => {
  let db: ReturnType<typeof acquireConnection>;
  let other: OtherConnection;

  beforeEach(async () => {
    db = acquireConnection(url as string);
    await db.exec.run('DROP TABLE IF EXISTS deadlock_rows');
    await db.exec.run('CREATE TABLE deadlock_rows (id INTEGER PRIMARY KEY, v INTEGER NOT NULL)');
    // Row 1 and 2 are the two the deadlock is over; 3.. make the other transaction the heavier
    // one, which InnoDB keeps (it rolls back the transaction that changed fewer rows).
    await db.exec.run(`INSERT INTO deadlock_rows (id, v) VALUES ${Array.from({ length: 50 }, (_, i) => `(${i + 1}, 0)`).join(', ')}`);
    other = await otherConnection(dialect, url as string);
  });

  afterEach(async () => {
    await other.end();
    await db.release();
  });

  test('a failed statement\'s error is the database\'s message: no SQL, no values', async () => {
    const secret = 'api-key-7f3a9c';
    await db.exec.run('CREATE TABLE IF NOT EXISTS error_rows (id INTEGER PRIMARY KEY, v VARCHAR(100) NOT NULL)');
    await db.exec.run('INSERT INTO error_rows (id, v) VALUES (?, ?)', [1, secret]);
    const failures = [
      db.exec.run('INSERT INTO error_rows (id, v) VALUES (?, ?)', [1, secret]),
      db.exec.all('SELECT no_such_column FROM error_rows WHERE v = ?', [secret]),
      db.exec.batch([
        { sql: 'UPDATE error_rows SET v = ? WHERE id = ?', bindings: [secret, 1] },
        { sql: 'INSERT INTO error_rows (id, v) VALUES (?, ?)', bindings: [1, secret] },
      ]),
    ];
    const errors = await Promise.all(failures.map((failure) => failure.then(() => new Error('did not fail'), (e: unknown) => e as Error)));
    for (const error of errors) {
      expect(error.message).not.toContain(secret);
      expect(error.message).not.toMatch(/INSERT INTO|SELECT no_such_column|UPDATE error_rows/);
      expect(error.message).toMatch(/duplicate|Duplicate|no_such_column|Unknown column/);
    }
    // The batch rolled back whole.
    expect(await db.exec.all<{ v: string }>('SELECT v FROM error_rows')).toEqual([{ v: secret }]);
  });

  /** Makes `write` (which must update row 2, then row 1) meet the other connection in a deadlock. */
  async function deadlocked<T>(write: () => Promise<T>): Promise<{ result: PromiseSettledResult<T>; otherFailed: boolean }> {
    await other.query(dialect === 'postgres' ? 'BEGIN' : 'START TRANSACTION');
    await other.query('UPDATE deadlock_rows SET v = v + 100 WHERE id >= 3');
    await other.query('UPDATE deadlock_rows SET v = v + 1 WHERE id = 1');
    const pending = write().then(
      (value): PromiseSettledResult<T> => ({ status: 'fulfilled', value }),
      (reason: unknown): PromiseSettledResult<T> => ({ status: 'rejected', reason }),
    );
    // The write holds row 2 and waits for row 1.
    await wait(300);
    let otherFailed = false;
    try {
      if (dialect === 'postgres') await other.query("SET LOCAL deadlock_timeout = '10s'");
      await other.query('UPDATE deadlock_rows SET v = v + 1 WHERE id = 2');
      await other.query('COMMIT');
    } catch {
      otherFailed = true;
      await other.query('ROLLBACK').catch(() => undefined);
    }
    return { result: await pending, otherFailed };
  }

  test('a batch picked as the victim is run again and applies once', async () => {
    const { result, otherFailed } = await deadlocked(() =>
      db.exec.batch([
        { sql: 'UPDATE deadlock_rows SET v = v + 10 WHERE id = 2', bindings: [] },
        { sql: 'UPDATE deadlock_rows SET v = v + 10 WHERE id = 1', bindings: [] },
      ]),
    );
    expect(otherFailed).toBe(false);
    expect(result).toEqual({ status: 'fulfilled', value: [1, 1] });
    const rows = await db.exec.all<{ id: number; v: number }>('SELECT id, v FROM deadlock_rows WHERE id <= 2 ORDER BY id');
    // The other transaction's +1 and the batch's +10, once each.
    expect(rows.map((r) => [Number(r.id), Number(r.v)])).toEqual([
      [1, 11],
      [2, 11],
    ]);
  });

  test('one statement picked as the victim is run again and applies once', async () => {
    // One UPDATE that locks row 2 and then row 1: the rows in descending key order.
    const sql = dialect === 'postgres'
      ? 'UPDATE deadlock_rows SET v = v + 10 WHERE id IN (SELECT id FROM deadlock_rows WHERE id <= 2 ORDER BY id DESC FOR UPDATE)'
      : 'UPDATE deadlock_rows SET v = v + 10 WHERE id <= 2 ORDER BY id DESC';
    const { result, otherFailed } = await deadlocked(() => db.exec.run(sql));
    expect(otherFailed).toBe(false);
    expect(result).toEqual({ status: 'fulfilled', value: 2 });
    const rows = await db.exec.all<{ id: number; v: number }>('SELECT id, v FROM deadlock_rows WHERE id <= 2 ORDER BY id');
    expect(rows.map((r) => [Number(r.id), Number(r.v)])).toEqual([
      [1, 11],
      [2, 11],
    ]);
  });
});
