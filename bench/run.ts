/**
 * `npm run bench [-- SCENARIO…] [--json] [--scale=X] [--cpu-prof-dir=DIR]`
 * `npm run bench -- --peers [--json] [--scale=X] [--cpu-prof-dir=DIR]`
 *
 * Scenarios: memory-sync, memory-async, sqlite-enqueue, sqlite-worker, sqs; groups: memory,
 * sqlite, all (the default). Prints the machine, then one table of tasks/s and enqueue→start latency.
 * --peers instead runs taskq, graphile-worker and pg-boss side by side on PostgreSQL (bench/peers/).
 * See docs/benchmarks.md.
 */
import { execSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { cpus, platform, release, totalmem } from 'node:os';
import { resolve } from 'node:path';
import type { BenchResult, ScenarioOptions } from './common';
import { memoryAsync, memorySync } from './memory';
import { sqliteEnqueue, sqliteWorker } from './sqlite';
import { sqsScenario } from './sqs';

interface Args {
  scenarios: string[];
  /** --peers: the PostgreSQL side-by-side run, on its own. */
  peers: boolean;
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
};

const GROUPS: Record<string, string[]> = {
  all: Object.keys(SCENARIOS),
  memory: ['memory-sync', 'memory-async'],
  sqlite: ['sqlite-enqueue', 'sqlite-worker'],
};

const USAGE = `usage: npm run bench -- [SCENARIO…] [--json] [--scale=X] [--cpu-prof-dir=DIR]
       npm run bench -- --peers [--json] [--scale=X] [--cpu-prof-dir=DIR]
  SCENARIO      ${Object.keys(SCENARIOS).join(', ')}, or a group: ${Object.keys(GROUPS).join(', ')} (default: all)
  --peers       taskq, graphile-worker and pg-boss side by side on the PostgreSQL server that
                TASKQ_BENCH_PG_URL names (default postgres://postgres@127.0.0.1:5432/postgres),
                in a database of its own that it drops at the end; not part of all
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
  const args: Args = { scenarios: [], peers: false, json: false, scale: 1 };
  for (const arg of argv) {
    if (arg === '--json') args.json = true;
    else if (arg === '--peers') args.peers = true;
    else if (arg === '--help' || arg === '-h') usage();
    else if (arg.startsWith('--scale=')) {
      args.scale = Number(arg.slice('--scale='.length));
      if (!Number.isFinite(args.scale) || args.scale <= 0) usage(`--scale must be a positive number, got "${arg.slice(8)}"`);
    } else if (arg.startsWith('--cpu-prof-dir=')) args.cpuProfDir = resolve(arg.slice('--cpu-prof-dir='.length));
    else if (arg.startsWith('-')) usage(`unknown option ${arg}`);
    else if (GROUPS[arg]) args.scenarios.push(...GROUPS[arg]);
    else if (SCENARIOS[arg]) args.scenarios.push(arg);
    else usage(`unknown scenario "${arg}"`);
  }
  if (args.peers && args.scenarios.length > 0) usage('--peers runs on its own: give no scenario with it');
  if (args.scenarios.length === 0 && !args.peers) args.scenarios = GROUPS.all;
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
  if (args.peers) return runPeers(args, info, progress, workerExecArgv);
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

/** --peers: its own table (a column per system), printed as the other scenarios' is. */
async function runPeers(args: Args, info: Record<string, string | number>, progress: (message: string) => void, workerExecArgv: string[]): Promise<void> {
  // Loaded only here: graphile-worker and pg-boss are dev dependencies of this one scenario.
  const { peersScenario } = require('./peers/peers') as typeof import('./peers/peers');
  const { formatPeersReport } = require('./peers/peersTable') as typeof import('./peers/peersTable');
  const started = Date.now();
  console.error('running peers');
  const report = await peersScenario({ scale: args.scale, progress, workerExecArgv });
  const seconds = (Date.now() - started) / 1000;
  if (args.json) {
    console.log(JSON.stringify({ machine: info, scale: args.scale, seconds, peers: report }, null, 2));
    return;
  }
  console.log('');
  console.log(formatPeersReport(report));
  console.log(`\ntotal ${seconds.toFixed(1)} s`);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
