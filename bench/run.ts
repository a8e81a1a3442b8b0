/**
 * `npm run bench [-- SCENARIO…] [--json] [--scale=X] [--cpu-prof-dir=DIR]`
 * `npm run bench -- --peers[=postgres,mariadb,worker-memory] [--json] [--scale=X] [--cpu-prof-dir=DIR]`
 *
 * Scenarios: memory-sync, memory-async, sqlite-enqueue, sqlite-worker, sqs, await (dispatcher.run's
 * latency on SQLite and PostgreSQL), api and overview (the HTTP API under load, the dashboard's
 * overview of 1,000,000 tasks: by name only); groups: memory,
 * sqlite, all (the default). Prints the machine, then one table of tasks/s and enqueue→start latency.
 * --peers instead runs taskq, graphile-worker and pg-boss side by side on PostgreSQL, then taskq
 * alone on MariaDB; --peers=worker-memory a worker's memory over 1,000,000 tasks (bench/peers/).
 * See docs/benchmarks.md.
 */
import { execSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { cpus, platform, release, totalmem } from 'node:os';
import { resolve } from 'node:path';
import type { BenchResult, ScenarioOptions } from './common';
import { awaitingScenario } from './awaiting';
import { memoryAsync, memorySync } from './memory';
import { sqliteEnqueue, sqliteWorker } from './sqlite';
import { sqsScenario } from './sqs';
import { apiScenario } from './api';
import { overviewScenario } from './overview';

interface Args {
  scenarios: string[];
  /** --peers[=…]: the side-by-side runs, on their own (empty: not asked for). */
  peers: PeersRun[];
  json: boolean;
  scale: number;
  cpuProfDir?: string;
}

const SCENARIOS: Record<string, (options: ScenarioOptions & { workerExecArgv: string[] }) => Promise<BenchResult[]>> = {
  'memory-sync': memorySync,
  'memory-async': memoryAsync,
  'sqlite-enqueue': sqliteEnqueue,
  'sqlite-worker': sqliteWorker,
  sqs: sqsScenario,
  await: awaitingScenario,
  api: apiScenario,
  overview: overviewScenario,
};

/** What --peers runs: --peers alone is postgres,mariadb; worker-memory only when named. */
const PEERS_RUNS = ['postgres', 'mariadb', 'worker-memory'] as const;
type PeersRun = (typeof PEERS_RUNS)[number];
const DEFAULT_PEERS_RUNS: PeersRun[] = ['postgres', 'mariadb'];

function isPeersRun(name: string): name is PeersRun {
  return (PEERS_RUNS as readonly string[]).includes(name);
}

const GROUPS: Record<string, string[]> = {
  // The HTTP API's latency (api) and the dashboard's load (overview) are asked for by name: they measure the server, not the queue.
  all: Object.keys(SCENARIOS).filter((name) => name !== 'api' && name !== 'overview'),
  memory: ['memory-sync', 'memory-async'],
  sqlite: ['sqlite-enqueue', 'sqlite-worker'],
};

const USAGE = `usage: npm run bench -- [SCENARIO…] [--json] [--scale=X] [--cpu-prof-dir=DIR]
       npm run bench -- --peers[=RUN,…] [--json] [--scale=X] [--cpu-prof-dir=DIR]
  SCENARIO      ${Object.keys(SCENARIOS).join(', ')}, or a group: ${Object.keys(GROUPS).join(', ')} (default: all)
  --peers       taskq, graphile-worker and pg-boss side by side on PostgreSQL (postgres), then
                taskq alone on MariaDB (mariadb); not part of all. On Node >= 22 the peers'
                latest releases (graphile-worker 0.18, pg-boss 12), on Node 20 graphile-worker
                0.17.3 and pg-boss 10.4.2. PostgreSQL: a throwaway server the bench starts
                (root and /usr/lib/postgresql needed, else the machine's 127.0.0.1:5432), or
                the server TASKQ_BENCH_PG_URL names; MariaDB: TASKQ_BENCH_MYSQL_URL (default
                mysql://root@127.0.0.1:3306). A database of its own on each, dropped at the end
  --peers=RUN,… some of postgres, mariadb, worker-memory (one taskq worker process over
                1,000,000 tasks on PostgreSQL: its memory, sampled every 20,000 tasks)
  --json        print the results as JSON on stdout (progress stays on stderr)
  --scale=X     multiply every task count by X (e.g. 0.1 for a quick smoke run)
  --cpu-prof-dir=DIR  write a V8 CPU profile of every worker process to DIR
                (for the in-process scenarios: node --cpu-prof dist/bench/run.js SCENARIO)`;

function usage(message?: string): never {
  if (message) console.error(message);
  console.error(USAGE);
  process.exit(2);
}

function parseArgs(argv: string[]): Args {
  const args: Args = { scenarios: [], peers: [], json: false, scale: 1 };
  for (const arg of argv) {
    if (arg === '--json') args.json = true;
    else if (arg === '--peers') args.peers.push(...DEFAULT_PEERS_RUNS);
    else if (arg.startsWith('--peers=')) {
      for (const run of arg.slice('--peers='.length).split(',')) {
        if (!isPeersRun(run)) usage(`unknown --peers run "${run}": one of ${PEERS_RUNS.join(', ')}`);
        args.peers.push(run);
      }
    } else if (arg === '--help' || arg === '-h') usage();
    else if (arg.startsWith('--scale=')) {
      args.scale = Number(arg.slice('--scale='.length));
      if (!Number.isFinite(args.scale) || args.scale <= 0) usage(`--scale must be a positive number, got "${arg.slice(8)}"`);
    } else if (arg.startsWith('--cpu-prof-dir=')) args.cpuProfDir = resolve(arg.slice('--cpu-prof-dir='.length));
    else if (arg.startsWith('-')) usage(`unknown option ${arg}`);
    else if (GROUPS[arg]) args.scenarios.push(...GROUPS[arg]);
    else if (SCENARIOS[arg]) args.scenarios.push(arg);
    else usage(`unknown scenario "${arg}"`);
  }
  if (args.peers.length > 0 && args.scenarios.length > 0) usage('--peers runs on its own: give no scenario with it');
  if (args.scenarios.length === 0 && args.peers.length === 0) args.scenarios = GROUPS.all;
  args.peers = PEERS_RUNS.filter((run) => args.peers.includes(run));
  args.scenarios = [...new Set(args.scenarios)];
  return args;
}

function machine(): Record<string, string | number> {
  const Database = require('better-sqlite3') as typeof import('better-sqlite3');
  const db = new Database(':memory:');
  const sqlite = (db.prepare('SELECT sqlite_version() AS v').get() as { v: string }).v;
  db.close();
  let commit = 'unknown';
  try {
    commit = execSync('git rev-parse --short HEAD', { stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim();
    const dirty = execSync('git status --porcelain -- src brokers', { stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim();
    if (dirty) commit += ' (src/brokers modified)';
  } catch {
    // not a git checkout
  }
  return {
    cpu: cpus()[0]?.model ?? 'unknown',
    cores: cpus().length,
    memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    node: process.version,
    platform: `${platform()} ${release()}`,
    sqlite,
    betterSqlite3: (require('better-sqlite3/package.json') as { version: string }).version,
    commit,
  };
}

const int = (n: number) => Math.round(n).toLocaleString('en-US');
const ms = (n: number | undefined) => (n === undefined ? '—' : n < 1 ? n.toFixed(3) : n < 10 ? n.toFixed(2) : n < 100 ? n.toFixed(1) : n.toFixed(0));

function table(results: BenchResult[]): string {
  const header = ['scenario', 'case', 'tasks', 'tasks/s', 'p50 ms', 'p95 ms', 'p99 ms', 'target'];
  const rows = results.map((r) => [
    r.scenario,
    r.case,
    int(r.tasks),
    int(r.tasksPerSec),
    ms(r.latency?.p50),
    ms(r.latency?.p95),
    ms(r.latency?.p99),
    r.target === undefined ? '' : `≥ ${int(r.target)} ${r.tasksPerSec >= r.target ? 'met' : 'MISSED'}`,
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i].length)));
  const numeric = new Set([2, 3, 4, 5, 6]);
  const line = (cells: string[]) => `| ${cells.map((c, i) => (numeric.has(i) ? c.padStart(widths[i]) : c.padEnd(widths[i]))).join(' | ')} |`;
  return [line(header), `|${widths.map((w, i) => (numeric.has(i) ? `${'-'.repeat(w + 1)}:` : '-'.repeat(w + 2))).join('|')}|`, ...rows.map(line)].join('\n');
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const info = machine();
  const progress = (message: string) => console.error(`  … ${message}`);
  if (!args.json) {
    console.log(`taskq benchmark — ${info.cpu}, ${info.cores} cores, ${info.memoryGiB} GiB, Node ${info.node}, ${info.platform}`);
    console.log(`SQLite ${info.sqlite} (better-sqlite3 ${info.betterSqlite3}), taskq commit ${info.commit}${args.scale !== 1 ? `, scale ${args.scale}` : ''}`);
  }
  const workerExecArgv: string[] = [];
  if (args.cpuProfDir) {
    mkdirSync(args.cpuProfDir, { recursive: true });
    workerExecArgv.push('--cpu-prof', `--cpu-prof-dir=${args.cpuProfDir}`);
  }
  if (args.peers.length > 0) return runPeers(args, info, progress, workerExecArgv);
  const results: BenchResult[] = [];
  const started = Date.now();
  for (const name of args.scenarios) {
    console.error(`running ${name}`);
    results.push(...(await SCENARIOS[name]({ scale: args.scale, progress, workerExecArgv })));
  }
  const seconds = (Date.now() - started) / 1000;
  if (args.json) {
    console.log(JSON.stringify({ machine: info, scale: args.scale, seconds, results }, null, 2));
    return;
  }
  console.log('');
  console.log(table(results));
  console.log('');
  console.log('latency: enqueue call → start of run(), ms; drain rows queue every task first, so latency does not apply');
  for (const r of results) {
    const details = Object.entries(r.details).map(([k, v]) => `${k}=${typeof v === 'number' && !Number.isInteger(v) ? v.toFixed(3) : v}`);
    if (r.latency) details.push(`max=${ms(r.latency.max)} ms`, `samples=${r.latency.samples}`);
    console.log(`  ${r.scenario} / ${r.case}: ${details.join(', ')}`);
  }
  console.log(`\ntotal ${seconds.toFixed(1)} s`);
}

/** --peers: the PostgreSQL table (a column per system), the MariaDB table, the worker-memory samples, in that order. */
async function runPeers(args: Args, info: Record<string, string | number>, progress: (message: string) => void, workerExecArgv: string[]): Promise<void> {
  // Loaded only here: graphile-worker, pg-boss and mysql2 are dev dependencies of these runs.
  const { peersScenario } = require('./peers/peers') as typeof import('./peers/peers');
  const { formatPeersReport } = require('./peers/peersTable') as typeof import('./peers/peersTable');
  const { mariadbScenario } = require('./peers/mariadb') as typeof import('./peers/mariadb');
  const { formatMariaDbReport } = require('./peers/mariadbTable') as typeof import('./peers/mariadbTable');
  const { workerMemoryScenario, formatWorkerMemoryReport } = require('./peers/workerMemory') as typeof import('./peers/workerMemory');
  const options = { scale: args.scale, progress, workerExecArgv };
  const started = Date.now();
  const runIfAsked = async <T>(run: PeersRun, scenario: (o: typeof options) => Promise<T>): Promise<T | undefined> => {
    if (!args.peers.includes(run)) return undefined;
    console.error(`running --peers=${run}`);
    return scenario(options);
  };
  const postgres = await runIfAsked('postgres', peersScenario);
  const mariadb = await runIfAsked('mariadb', mariadbScenario);
  const workerMemory = await runIfAsked('worker-memory', workerMemoryScenario);
  const seconds = (Date.now() - started) / 1000;
  if (args.json) {
    console.log(JSON.stringify({ machine: info, scale: args.scale, seconds, peers: postgres, mariadb, workerMemory }, null, 2));
    return;
  }
  for (const text of [postgres && formatPeersReport(postgres), mariadb && formatMariaDbReport(mariadb, postgres), workerMemory && formatWorkerMemoryReport(workerMemory)]) {
    if (text) console.log(`\n${text}`);
  }
  console.log(`\ntotal ${seconds.toFixed(1)} s`);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
