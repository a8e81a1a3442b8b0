/**
 * The fault test on real PostgreSQL and MariaDB: 4 worker processes (`taskq run-worker`) run
 * 10,000 tasks whose side effect is a row under a unique key, counted per execution. One worker
 * is SIGKILLed three times at random moments and replaced; the database connections of another
 * are killed by the server twice mid-run. Every task must end completed, no side effect may be
 * missing, and executions beyond one per task may be at most what the killed workers held.
 */
import type { ChildProcess } from 'node:child_process';
import { symlinkSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Client } from 'pg';
import { AbstractTask, Queue, QueueDispatcher, RdsQueueBroker, RdsTaskLogBroker, TaskLog, silentLogger } from '../../src';
import { CliProject, collect } from '../helpers/cliProject';
import { useMysqlDatabase } from '../helpers/mysql';
import { usePostgresDatabase } from '../helpers/postgres';
import { until, wait } from '../helpers/wait';

const ROOT = resolve(__dirname, '../..');
const TASKS = 10_000;
const WORKERS = 4;
const CONCURRENCY = 10;
const KILLS = 3;
const CONNECTION_KILLS = 2;
const LEASE_MS = 4_000;

/** The task as the workers run it: its side effect goes through a pool of its own. */
const TASKS_JS = `
const { AbstractTask } = require('taskq');
const url = process.env.TASKQ_FAULT_DB;
const pg = url.startsWith('postgres');
let pool;
function query(sql, params) {
  pool ??= pg ? new (require('pg').Pool)({ connectionString: url, max: 10 }) : require('mysql2/promise').createPool({ uri: url, connectionLimit: 10 });
  return pool.query(pg ? sql.replace(/\\?/g, (() => { let i = 0; return () => '$' + ++i; })()) : sql, params);
}
class Effect extends AbstractTask {
  static taskName = 'Effect';
  static maxAttempts = 10;
  async run(ctx) {
    await query('INSERT INTO executions (task_id) VALUES (?)', [ctx.taskId]);
    await new Promise((r) => setTimeout(r, Math.random() * 3));
    await query(pg ? 'INSERT INTO effects (task_id) VALUES (?) ON CONFLICT (task_id) DO NOTHING' : 'INSERT INTO effects (task_id) VALUES (?) ON DUPLICATE KEY UPDATE task_id = task_id', [ctx.taskId]);
  }
}
module.exports = { Effect };
`;

/** The same task for the test's own dispatcher, which only enqueues. */
class Effect extends AbstractTask<{ n: number }> {
  static override taskName = 'Effect';
  run(): void {
    throw new Error('runs in the worker processes only');
  }
}

interface Dialect {
  name: string;
  url: string | undefined;
  /** Runs SQL on the test database, outside taskq. */
  sql(url: string, statement: string): Promise<Array<Record<string, unknown>>>;
  /** The connection URL of the worker whose connections get killed, and how to kill them. */
  victim(url: string): Promise<{ url: string; killConnections(): Promise<number>; drop(): Promise<void> }>;
}

const pgUrl = usePostgresDatabase('fault test');
const mysqlUrl = useMysqlDatabase('fault test');

async function pgSql(url: string, statement: string): Promise<Array<Record<string, unknown>>> {
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query(statement)).rows as Array<Record<string, unknown>>;
  } finally {
    await client.end();
  }
}

async function mysqlSql(url: string, statement: string): Promise<Array<Record<string, unknown>>> {
  const mysql = require('mysql2/promise') as typeof import('mysql2/promise');
  const connection = await mysql.createConnection(url);
  try {
    const [rows] = await connection.query(statement);
    return Array.isArray(rows) ? (rows as Array<Record<string, unknown>>) : [];
  } finally {
    await connection.end();
  }
}

const dialects: Dialect[] = [
  {
    name: 'PostgreSQL',
    url: pgUrl,
    sql: pgSql,
    async victim(url) {
      // Its taskq connections carry an application name of their own (the tasks' pool does not).
      const victim = new URL(url);
      victim.searchParams.set('application_name', 'taskq_fault_victim');
      return {
        url: victim.toString(),
        killConnections: async () => (await pgSql(url, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'taskq_fault_victim'`)).length,
        drop: async () => undefined,
      };
    },
  },
  {
    name: 'MariaDB',
    url: mysqlUrl,
    sql: mysqlSql,
    async victim(url) {
      // A user of its own: its connections are the ones listed under that user.
      const database = new URL(url).pathname.slice(1);
      const user = `victim_${database.slice(-8)}`;
      await mysqlSql(url, `CREATE USER IF NOT EXISTS '${user}'@'%' IDENTIFIED BY 'victim'`);
      await mysqlSql(url, `GRANT ALL ON \`${database}\`.* TO '${user}'@'%'`);
      const victim = new URL(url);
      victim.username = user;
      victim.password = 'victim';
      return {
        url: victim.toString(),
        async killConnections() {
          const ids = await mysqlSql(url, `SELECT id FROM information_schema.processlist WHERE user = '${user}'`);
          for (const { id } of ids) await mysqlSql(url, `KILL CONNECTION ${Number(id)}`).catch(() => undefined);
          return ids.length;
        },
        // Users outlive the database, and the server outlives the run.
        drop: async () => void (await mysqlSql(url, `DROP USER IF EXISTS '${user}'@'%'`)),
      };
    },
  },
];

jest.setTimeout(240_000);

for (const dialect of dialects) {
  const url = dialect.url;
  if (!url) continue;

  test(`${dialect.name}: ${WORKERS} workers, ${TASKS} tasks, one worker SIGKILLed ${KILLS} times, another's connections killed ${CONNECTION_KILLS} times: nothing lost, extra runs within what the killed held`, async () => {
    const isPg = dialect.name === 'PostgreSQL';
    await dialect.sql(url, `CREATE TABLE executions (id ${isPg ? 'BIGSERIAL' : 'BIGINT AUTO_INCREMENT'} PRIMARY KEY, task_id VARCHAR(64) NOT NULL)`);
    await dialect.sql(url, 'CREATE TABLE effects (task_id VARCHAR(64) PRIMARY KEY)');
    const victim = await dialect.victim(url);

    const config = (connection: string) => ({
      queues: [{ name: 'standard', broker: { type: 'rds', connection, receive: CONCURRENCY } }],
      taskLog: { type: 'rds', connection },
      tasks: ['./faultTasks.js'],
    });
    const project = new CliProject(config(url));
    for (const pkg of ['pg', 'mysql2']) symlinkSync(join(ROOT, 'node_modules', pkg), join(project.dir, 'node_modules', pkg), 'dir');
    writeFileSync(join(project.dir, 'faultTasks.js'), TASKS_JS);
    project.writeConfig(config(victim.url), 'victim.config.json');
    const dispatcher = new QueueDispatcher({
      queues: [new Queue('standard', new RdsQueueBroker({ connection: url }))],
      taskLog: new TaskLog(new RdsTaskLogBroker({ connection: url })),
      tasks: [Effect],
      logger: silentLogger,
    });
    const workers = new Set<ChildProcess>();
    const ended: Array<Promise<unknown>> = [];
    const start = (configFile?: string): ChildProcess => {
      const child = project.spawn(['run-worker', `--concurrency=${CONCURRENCY}`, `--lease-ms=${LEASE_MS}`, ...(configFile ? [`--config=${configFile}`] : [])], { TASKQ_FAULT_DB: url, TASKQ_LOG_LEVEL: 'warn' });
      workers.add(child);
      ended.push(collect(child));
      return child;
    };
    try {
      await dispatcher.initialize();
      for (let i = 0; i < TASKS; i += 1_000) await dispatcher.enqueueMany(Array.from({ length: 1_000 }, (_, j) => new Effect({ n: i + j })));
      const startedAt = Date.now();

      let doomed = start();
      start();
      start();
      start('victim.config.json');

      const completed = async () => (await dispatcher.taskLog.getStats()).completed;
      // Kills at random moments spread over the run: when a random share of the tasks is done.
      const moments = [
        ...Array.from({ length: KILLS }, (_, i) => ({ at: (0.1 + 0.25 * i + Math.random() * 0.15) * TASKS, kind: 'kill' as const })),
        ...Array.from({ length: CONNECTION_KILLS }, (_, i) => ({ at: (0.2 + 0.35 * i + Math.random() * 0.1) * TASKS, kind: 'connections' as const })),
      ].sort((a, b) => a.at - b.at);
      let connectionsKilled = 0;
      for (const moment of moments) {
        await until(async () => (await completed()) >= moment.at, 120_000, `${Math.round(moment.at)} tasks completed`);
        if (moment.kind === 'kill') {
          doomed.kill('SIGKILL');
          workers.delete(doomed);
          doomed = start();
        } else {
          connectionsKilled += await victim.killConnections();
        }
        await wait(Math.random() * 200);
      }
      await until(async () => (await completed()) === TASKS, 180_000, `all ${TASKS} tasks completed`);
      const seconds = (Date.now() - startedAt) / 1000;

      const stats = await dispatcher.taskLog.getStats();
      const [{ n: effects }] = await dialect.sql(url, 'SELECT COUNT(*) AS n FROM effects');
      const [{ n: executions }] = await dialect.sql(url, 'SELECT COUNT(*) AS n FROM executions');
      const [{ n: executed }] = await dialect.sql(url, 'SELECT COUNT(DISTINCT task_id) AS n FROM executions');
      const extra = Number(executions) - Number(executed);
      const figures = { tasks: TASKS, completed: stats.completed, failed: stats.failed, lost: TASKS - Number(effects), executions: Number(executions), extraExecutions: extra, killedWorkersHeldAtMost: KILLS * CONCURRENCY, connectionsKilled, seconds };
      console.log(`fault test on ${dialect.name}: ${JSON.stringify(figures)}`);

      expect(stats.completed).toBe(TASKS);
      expect(Number(effects)).toBe(TASKS);
      expect(Number(executed)).toBe(TASKS);
      expect(extra).toBeLessThanOrEqual(KILLS * CONCURRENCY);
      expect(connectionsKilled).toBeGreaterThan(0);
    } finally {
      for (const child of workers) child.kill('SIGTERM');
      await Promise.allSettled(ended);
      await dispatcher.close();
      await victim.drop();
      project.remove();
    }
  });
}
