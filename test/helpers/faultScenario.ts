/**
 * The fault scenario of test/reliability: 4 worker processes (`taskq run-worker`) run 10,000
 * tasks whose side effect is a row under a unique key, each execution counted. One worker is
 * SIGKILLed three times at random moments and replaced; the database connections of another
 * are killed by the server twice mid-run; a caller may add disruptions of its own (a network
 * link cut). The caller asserts on the figures it returns.
 */
import type { ChildProcess } from 'node:child_process';
import { symlinkSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Client } from 'pg';
import { AbstractTask, Queue, QueueDispatcher, RdsQueueBroker, RdsTaskLogBroker, TaskLog, silentLogger } from '../../src';
import { CliProject, collect } from './cliProject';
import { until, wait } from './wait';

const ROOT = resolve(__dirname, '../..');
export const FAULT_TASKS = 10_000;
export const FAULT_WORKERS = 4;
export const FAULT_CONCURRENCY = 10;
export const FAULT_KILLS = 3;
const CONNECTION_KILLS = 2;
const LEASE_MS = 4_000;

/** The task as the workers run it: its side effect goes through a pool of its own. */
const TASKS_JS = `
const { AbstractTask } = require('taskq');
const url = process.env.TASKQ_FAULT_DB;
const worker = process.env.TASKQ_FAULT_WORKER;
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
    await query('INSERT INTO executions (task_id, worker) VALUES (?, ?)', [ctx.taskId, worker]);
    await new Promise((r) => setTimeout(r, Math.random() * 3));
    await query(pg ? 'INSERT INTO effects (task_id) VALUES (?) ON CONFLICT (task_id) DO NOTHING' : 'INSERT INTO effects (task_id) VALUES (?) ON DUPLICATE KEY UPDATE task_id = task_id', [ctx.taskId]);
  }
}
module.exports = { Effect };
`;

/** The same task for the scenario's own dispatcher, which only enqueues. */
class Effect extends AbstractTask<{ n: number }> {
  static override taskName = 'Effect';
  run(): void {
    throw new Error('runs in the worker processes only');
  }
}

/** A worker whose database connections the server kills, reached under a name of its own. */
export interface ConnectionVictim {
  url: string;
  killConnections(): Promise<number>;
  drop(): Promise<void>;
}

export interface FaultDatabase {
  name: string;
  dialect: 'pg' | 'mysql';
  /** Reached by the scenario and by every worker. */
  url: string;
  /** Runs SQL on the database, outside taskq. */
  sql(statement: string): Promise<Array<Record<string, unknown>>>;
  victim(): Promise<ConnectionVictim>;
}

/** Something done to the run when `share` of the tasks are completed; awaited before the end. */
export interface Disruption {
  share: number;
  act(): Promise<void>;
}

export interface FaultScenarioOptions {
  database: FaultDatabase;
  /**
   * A command prefix per worker (`w0` is the one killed and replaced, `w3` the connection victim),
   * to run it on a simulated host.
   */
  launcher?(worker: string): string[];
  disruptions?: Disruption[];
}

export interface FaultFigures {
  tasks: number;
  completed: number;
  failed: number;
  /** Tasks whose side effect is missing. */
  lost: number;
  executions: number;
  /** Executions beyond one per task. */
  extraExecutions: number;
  /** What the killed workers held at most: the bound on extra executions from the kills. */
  killedWorkersHeldAtMost: number;
  connectionsKilled: number;
  /** Of the four workers running at the end (the last replacement included), how many were alive. */
  workersAliveAtEnd: number;
  /** Executions per worker name (w0 … w3). */
  executionsByWorker: Record<string, number>;
  seconds: number;
}

export async function runFaultScenario(options: FaultScenarioOptions): Promise<FaultFigures> {
  const { database } = options;
  const url = database.url;
  const isPg = database.dialect === 'pg';
  await database.sql(`CREATE TABLE executions (id ${isPg ? 'BIGSERIAL' : 'BIGINT AUTO_INCREMENT'} PRIMARY KEY, task_id VARCHAR(64) NOT NULL, worker VARCHAR(8) NOT NULL, at ${isPg ? 'TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp()' : 'TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6)'})`);
  await database.sql('CREATE TABLE effects (task_id VARCHAR(64) PRIMARY KEY)');
  const victim = await database.victim();

  const config = (connection: string) => ({
    queues: [{ name: 'standard', broker: { type: 'rds', connection, receive: FAULT_CONCURRENCY } }],
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
  const start = (worker: string, configFile?: string): ChildProcess => {
    const args = ['run-worker', `--concurrency=${FAULT_CONCURRENCY}`, `--lease-ms=${LEASE_MS}`, ...(configFile ? [`--config=${configFile}`] : [])];
    const child = project.spawn(args, { TASKQ_FAULT_DB: url, TASKQ_FAULT_WORKER: worker, TASKQ_LOG_LEVEL: 'warn' }, options.launcher?.(worker) ?? []);
    workers.add(child);
    ended.push(collect(child));
    return child;
  };
  const disrupting: Array<Promise<void>> = [];
  try {
    await dispatcher.initialize();
    for (let i = 0; i < FAULT_TASKS; i += 1_000) await dispatcher.enqueueMany(Array.from({ length: 1_000 }, (_, j) => new Effect({ n: i + j })));
    const startedAt = Date.now();

    let doomed = start('w0');
    start('w1');
    start('w2');
    start('w3', 'victim.config.json');

    const completed = async () => (await dispatcher.taskLog.getStats()).completed;
    let connectionsKilled = 0;
    // Kills at random moments spread over the run: when a random share of the tasks is done.
    const moments = [
      ...Array.from({ length: FAULT_KILLS }, (_, i) => ({
        share: 0.1 + 0.25 * i + Math.random() * 0.15,
        act: async () => {
          doomed.kill('SIGKILL');
          workers.delete(doomed);
          doomed = start('w0');
        },
      })),
      ...Array.from({ length: CONNECTION_KILLS }, (_, i) => ({
        share: 0.2 + 0.35 * i + Math.random() * 0.1,
        act: async () => void (connectionsKilled += await victim.killConnections()),
      })),
      ...(options.disruptions ?? []).map((d) => ({ share: d.share, act: () => void disrupting.push(d.act()) })),
    ].sort((a, b) => a.share - b.share);
    for (const moment of moments) {
      const at = moment.share * FAULT_TASKS;
      await until(async () => (await completed()) >= at, 120_000, `${Math.round(at)} tasks completed`);
      await moment.act();
      await wait(Math.random() * 200);
    }
    await Promise.all(disrupting);
    await until(async () => (await completed()) === FAULT_TASKS, 180_000, `all ${FAULT_TASKS} tasks completed`);
    const seconds = (Date.now() - startedAt) / 1000;
    const workersAliveAtEnd = [...workers].filter((child) => child.exitCode === null && child.signalCode === null).length;

    const stats = await dispatcher.taskLog.getStats();
    const [{ n: effects }] = await database.sql('SELECT COUNT(*) AS n FROM effects');
    const [{ n: executions }] = await database.sql('SELECT COUNT(*) AS n FROM executions');
    const [{ n: executed }] = await database.sql('SELECT COUNT(DISTINCT task_id) AS n FROM executions');
    const byWorker = await database.sql('SELECT worker, COUNT(*) AS n FROM executions GROUP BY worker ORDER BY worker');
    return {
      tasks: FAULT_TASKS,
      completed: stats.completed,
      failed: stats.failed,
      lost: FAULT_TASKS - Number(effects),
      executions: Number(executions),
      extraExecutions: Number(executions) - Number(executed),
      killedWorkersHeldAtMost: FAULT_KILLS * FAULT_CONCURRENCY,
      connectionsKilled,
      workersAliveAtEnd,
      executionsByWorker: Object.fromEntries(byWorker.map((row) => [String(row.worker), Number(row.n)])),
      seconds,
    };
  } finally {
    await Promise.allSettled(disrupting);
    for (const child of workers) child.kill('SIGTERM');
    await Promise.allSettled(ended);
    await dispatcher.close();
    await victim.drop();
    project.remove();
  }
}

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

export function postgresFaultDatabase(url: string): FaultDatabase {
  return {
    name: 'PostgreSQL',
    dialect: 'pg',
    url,
    sql: (statement) => pgSql(url, statement),
    async victim() {
      // Its taskq connections carry an application name of their own (the tasks' pool does not).
      const victim = new URL(url);
      victim.searchParams.set('application_name', 'taskq_fault_victim');
      return {
        url: victim.toString(),
        killConnections: async () => (await pgSql(url, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'taskq_fault_victim'`)).length,
        drop: async () => undefined,
      };
    },
  };
}

export function mysqlFaultDatabase(url: string): FaultDatabase {
  return {
    name: 'MariaDB',
    dialect: 'mysql',
    url,
    sql: (statement) => mysqlSql(url, statement),
    async victim() {
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
  };
}
