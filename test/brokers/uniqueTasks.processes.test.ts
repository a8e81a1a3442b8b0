/**
 * Unique tasks across processes: four node processes (the built package, dist/) enqueue the same
 * uniqueKey at the same instant, on SQLite, PostgreSQL and MariaDB, for a new key and for a
 * replace of a pending one. The database's unique index decides: one task, one `created`, every
 * process told the same id; concurrent replaces leave one task with one of their params.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { RdsQueueBroker, RdsTaskLogBroker, TaskLogFilter } from '../../src';
import { useMysqlDatabase } from '../helpers/mysql';
import { usePostgresDatabase } from '../helpers/postgres';

const DIST = resolve(__dirname, '../../dist/src/index.js');
const dir = mkdtempSync(join(tmpdir(), 'taskq-unique-processes-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const databases: [string, string][] = [['SQLite', `sqlite:${join(dir, 'unique.db')}`]];
const pg = usePostgresDatabase('unique_processes');
if (pg) databases.push(['PostgreSQL', pg]);
const mysql = useMysqlDatabase('unique_processes');
if (mysql) databases.push(['MariaDB', mysql]);

/** One process's enqueue: waits for the agreed instant, enqueues, prints its outcome and the id. */
const SCRIPT = `
const { AbstractTask, Queue, QueueDispatcher, RdsQueueBroker, RdsTaskLogBroker, TaskLog, silentLogger } = require(${JSON.stringify(DIST)});
class Digest extends AbstractTask { static taskName = 'Digest'; run() { return this.getParameter('n'); } }
const [connection, table, key, replace, n, startAt] = process.argv.slice(2);
(async () => {
  const dispatcher = new QueueDispatcher({
    queues: [new Queue('q', new RdsQueueBroker({ connection, table: table + '_messages' }))],
    taskLog: new TaskLog(new RdsTaskLogBroker({ connection, table: table + '_log' })),
    tasks: [Digest],
    logger: silentLogger,
  });
  await dispatcher.taskLog.get('warm-up');
  await new Promise((resolve) => setTimeout(resolve, Math.max(0, Number(startAt) - Date.now())));
  const { task, outcome } = await dispatcher.enqueueUnique(new Digest({ n: Number(n) }), { uniqueKey: key, replace: replace === 'replace' });
  console.log(JSON.stringify({ outcome, id: task.id }));
  await dispatcher.close();
})().catch((error) => { console.error(error); process.exit(1); });
`;
const script = join(dir, 'enqueue.cjs');
writeFileSync(script, SCRIPT);

function run(args: string[]): Promise<{ outcome: string; id: string }> {
  return new Promise((done, fail) => {
    const child: ChildProcess = spawn(process.execPath, [script, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout?.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.stderr?.on('data', (chunk: Buffer) => (err += chunk.toString()));
    child.on('exit', (code) => (code === 0 ? done(JSON.parse(out.trim()) as { outcome: string; id: string }) : fail(new Error(`exit ${code}: ${err}`))));
  });
}

let n = 0;

describe.each(databases)('%s', (_name, connection) => {
  test('four processes enqueue one key at once: one task, the same id for all; then four replace it at once', async () => {
    const table = `uniq_proc_${++n}_${process.pid}`;
    const log = new RdsTaskLogBroker({ connection, table: `${table}_log` });
    try {
      await log.createContainer();
      const queue = new RdsQueueBroker({ connection, table: `${table}_messages` });
      await queue.createContainer('q');
      await queue.close();

      // Far enough ahead for every process to have started and connected.
      let startAt = Date.now() + 2_500;
      const created = await Promise.all([0, 1, 2, 3].map((i) => run([connection, table, 'nightly', 'keep', String(i), String(startAt)])));
      expect(created.filter((r) => r.outcome === 'created')).toHaveLength(1);
      expect(created.filter((r) => r.outcome === 'existing')).toHaveLength(3);
      expect(new Set(created.map((r) => r.id)).size).toBe(1);
      expect(await log.count(new TaskLogFilter().eq('taskName', 'Digest'))).toBe(1);

      startAt = Date.now() + 2_500;
      const replaced = await Promise.all([10, 11, 12, 13].map((i) => run([connection, table, 'nightly', 'replace', String(i), String(startAt)])));
      expect(replaced.map((r) => r.outcome)).toEqual(['replaced', 'replaced', 'replaced', 'replaced']);
      expect(new Set(replaced.map((r) => r.id))).toEqual(new Set([created[0].id]));
      const entries = await log.search(new TaskLogFilter().eq('taskName', 'Digest'));
      expect(entries).toHaveLength(1);
      expect([10, 11, 12, 13]).toContain((entries[0].parameters as { n: number }).n);
    } finally {
      await log.close();
    }
  }, 60_000);
});
