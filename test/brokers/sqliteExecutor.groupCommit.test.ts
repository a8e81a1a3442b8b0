/**
 * SqliteExecutor's group commit: writes made in one turn share a transaction; each still
 * succeeds or fails alone, and none is reported done before it is committed.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { SqliteExecutor } from '../../brokers/rds/sqlExecutor';

let dir: string;
let path: string;
let db: Database.Database;
let exec: SqliteExecutor;
/** Another connection to the same file: it sees only what is committed. */
let other: Database.Database;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'taskq-group-'));
  path = join(dir, 'db.sqlite');
  db = new Database(path);
  db.pragma('journal_mode = WAL');
  db.exec('CREATE TABLE t (id TEXT PRIMARY KEY, v INTEGER)');
  exec = new SqliteExecutor(db, path);
  other = new Database(path, { readonly: true });
});

afterEach(async () => {
  other.close();
  await exec.close();
  rmSync(dir, { recursive: true, force: true });
});

const committed = () => (other.prepare('SELECT id FROM t ORDER BY id').all() as { id: string }[]).map((r) => r.id);

test('writes of one turn are one transaction, and resolve only once it is committed', async () => {
  const writes = [exec.run('INSERT INTO t VALUES (?, 1)', ['a']), exec.run('INSERT INTO t VALUES (?, 2)', ['b'])];
  // Queued, not committed: another connection sees neither yet.
  expect(committed()).toEqual([]);
  // A read queued after them sees them.
  expect(await exec.all<{ id: string }>('SELECT id FROM t ORDER BY id')).toEqual([{ id: 'a' }, { id: 'b' }]);
  expect(await Promise.all(writes)).toEqual([1, 1]);
  expect(committed()).toEqual(['a', 'b']);
});

test('the write lock is not held while the writes wait for the end of the turn', async () => {
  const write = exec.run('INSERT INTO t VALUES (?, 1)', ['mine']);
  // Another process writing meanwhile, with no patience for a lock: it gets through.
  const writer = new Database(path, { timeout: 0 });
  writer.prepare('INSERT INTO t VALUES (?, 1)').run('theirs');
  writer.close();
  await write;
  expect(committed()).toEqual(['mine', 'theirs']);
});

test('a failing statement fails alone: the others of its group commit', async () => {
  await exec.run('INSERT INTO t VALUES (?, 0)', ['dup']);
  const results = await Promise.allSettled([
    exec.run('INSERT INTO t VALUES (?, 1)', ['a']),
    exec.run('INSERT INTO t VALUES (?, 1)', ['dup']),
    exec.run('UPDATE t SET v = 5 WHERE id = ?', ['dup']),
  ]);
  expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
  expect((results[1] as PromiseRejectedResult).reason).toMatchObject({ message: expect.stringMatching(/UNIQUE constraint failed/) });
  expect(committed()).toEqual(['a', 'dup']);
  expect(other.prepare('SELECT v FROM t WHERE id = ?').get('dup')).toEqual({ v: 5 });
});

test('a batch in a group is all or nothing by itself', async () => {
  await exec.run('INSERT INTO t VALUES (?, 0)', ['dup']);
  const results = await Promise.allSettled([
    exec.run('INSERT INTO t VALUES (?, 1)', ['before']),
    exec.batch([
      { sql: 'INSERT INTO t VALUES (?, 1)', bindings: ['in-batch'] },
      { sql: 'INSERT INTO t VALUES (?, 1)', bindings: ['dup'] },
    ]),
    exec.run('INSERT INTO t VALUES (?, 1)', ['after']),
  ]);
  expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
  expect(committed()).toEqual(['after', 'before', 'dup']);
});

test('writes of later turns are groups of their own; a read alone needs no transaction', async () => {
  await exec.run('INSERT INTO t VALUES (?, 1)', ['a']);
  expect(committed()).toEqual(['a']);
  expect(db.inTransaction).toBe(false);
  expect(await exec.all('SELECT id FROM t')).toEqual([{ id: 'a' }]);
  expect(db.inTransaction).toBe(false);
  await exec.run('INSERT INTO t VALUES (?, 1)', ['b']);
  expect(committed()).toEqual(['a', 'b']);
});

test('close commits what is pending', async () => {
  const write = exec.run('INSERT INTO t VALUES (?, 1)', ['a']);
  await exec.close();
  await write;
  expect(committed()).toEqual(['a']);
  // afterEach closes it again: reopen a handle for it.
  db = new Database(path);
  exec = new SqliteExecutor(db, path);
});
