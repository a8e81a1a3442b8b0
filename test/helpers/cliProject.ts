import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const ROOT = resolve(__dirname, '../..');
export const CLI = join(ROOT, 'dist/bin/taskq.js');

/** Tasks of the test projects: plain CommonJS, requiring taskq as an application would. */
const TASKS_JS = `
const { appendFileSync } = require('node:fs');
const { AbstractTask, Report, defineCallback } = require('taskq');
const runsFile = process.env.TASKQ_TEST_RUNS;
function record(id) { if (runsFile) appendFileSync(runsFile, id + '\\n'); }
class Hello extends AbstractTask {
  static taskName = 'Hello';
  async run(ctx) { record(ctx.taskId); return Report.success('hello ' + this.getParameter('name')); }
}
class Slow extends AbstractTask {
  static taskName = 'Slow';
  async run(ctx) {
    record(ctx.taskId);
    await new Promise((r) => setTimeout(r, this.getParameter('ms')));
    return { slept: this.getParameter('ms'), attempt: ctx.attempt };
  }
}
class Fail extends AbstractTask {
  static taskName = 'Fail';
  async run() { throw new Error('this task always fails'); }
}
module.exports = { Hello, Slow, Fail, shout: defineCallback('shout', (args) => String(args).toUpperCase()) };
`;

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** A throw-away application folder: taskq linked in node_modules, a tasks module, a config. */
export class CliProject {
  readonly dir: string;
  readonly runsFile: string;

  constructor(config?: object) {
    this.dir = mkdtempSync(join(tmpdir(), 'taskq-cli-'));
    mkdirSync(join(this.dir, 'node_modules'));
    symlinkSync(ROOT, join(this.dir, 'node_modules', 'taskq'), 'dir');
    writeFileSync(join(this.dir, 'tasks.js'), TASKS_JS);
    this.runsFile = join(this.dir, 'runs.txt');
    this.writeConfig(config ?? CliProject.config('sqlite:./taskq.db'));
  }

  /**
   * The test projects' config on one database: queues standard (30) and priority (90, where
   * shout goes), the task log beside them. `tables`: names of their own (a database shared by
   * several tests), else the defaults.
   */
  static config(connection: string, tables?: { messages: string; taskLog: string }): object {
    const broker = { type: 'rds', connection, receive: 5, ...(tables ? { table: tables.messages } : {}) };
    return {
      queues: [
        { name: 'standard', weight: 30, broker },
        { name: 'priority', weight: 90, broker },
      ],
      defaultQueue: 'standard',
      associations: { shout: 'priority' },
      taskLog: { type: 'rds', connection, ...(tables ? { table: tables.taskLog } : {}) },
      tasks: ['./tasks.js'],
    };
  }

  writeConfig(config: object | string, name = 'taskq.config.json'): void {
    writeFileSync(join(this.dir, name), typeof config === 'string' ? config : JSON.stringify(config, null, 2));
  }

  /** `launcher` prefixes the command, e.g. `ip netns exec NS` to run it on a simulated host. */
  spawn(args: string[], env: NodeJS.ProcessEnv = {}, launcher: string[] = []): ChildProcess {
    const command = [...launcher, process.execPath, CLI, ...args];
    return spawn(command[0], command.slice(1), {
      cwd: this.dir,
      env: { ...process.env, TASKQ_TEST_RUNS: this.runsFile, TASKQ_CONFIG: '', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
  }

  /** Runs the CLI to its end. */
  run(args: string[], env: NodeJS.ProcessEnv = {}): Promise<CliResult> {
    const child = this.spawn(args, env);
    return collect(child);
  }

  /** An initialized project (tables created), as most tests start. */
  static async initialized(config?: object): Promise<CliProject> {
    const project = new CliProject(config);
    const result = await project.run(['initialize-queue']);
    if (result.code !== 0) throw new Error(`taskq initialize-queue exited ${result.code}: ${result.stderr}`);
    return project;
  }

  /** `taskq enqueue NAME --params JSON …`; the task id it printed. */
  async enqueue(name: string, params: unknown, extra: string[] = []): Promise<string> {
    const result = await this.run(['enqueue', name, '--params', JSON.stringify(params), ...extra]);
    if (result.code !== 0) throw new Error(`taskq enqueue ${name} exited ${result.code}: ${result.stderr}`);
    return result.stdout.trim();
  }

  async json<T>(args: string[]): Promise<T> {
    const result = await this.run([...args, '--json']);
    if (result.code !== 0) throw new Error(`taskq ${args.join(' ')} exited ${result.code}: ${result.stderr}`);
    return JSON.parse(result.stdout) as T;
  }

  remove(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

export function collect(child: ChildProcess): Promise<CliResult> {
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolvePromise, reject) => {
    child.on('error', reject);
    child.on('close', (code) => resolvePromise({ code, stdout, stderr }));
  });
}
