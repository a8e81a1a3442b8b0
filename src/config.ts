import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, extname, isAbsolute, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { z } from 'zod';
import { type BrokerConfig, createQueueBroker, createTaskLogBroker } from './brokerFactory';
import { type CallbackDefinition, isCallbackDefinition } from './callbackTask';
import { ConfigError } from './errors';
import { reasonOf } from './errorText';
import { loadExports } from './taskFolder';
import type { Logger } from './logger';
import { Queue } from './queue';
import { QueueDispatcher } from './queueDispatcher';
import { TaskLog } from './taskLog/taskLog';
import { type TaskClass, isTaskClass } from './task';
import { assertValidName } from './taskRegistry';
import { checkScheduleNames, scheduleSchema } from './schedules/schedule';
import { declareSchedules } from './schedules/declaredSchedules';
import { pruneSchedule, pruneSchema, pruneTaskFor } from './scheduledPrune';

const receive = z.number().int().positive();
const memoryBroker = z.object({ type: z.literal('memory'), sync: z.boolean().optional(), receive: receive.optional() }).strict();
const rdsBroker = z.object({ type: z.literal('rds'), connection: z.string().min(1).optional(), receive: receive.optional(), table: z.string().optional(), notify: z.boolean().optional() }).strict();
const sqsBroker = z
  .object({
    type: z.literal('sqs'),
    region: z.string().min(1).optional(),
    endpoint: z.url().optional(),
    profile: z.string().min(1).optional(),
    queuePrefix: z.string().optional(),
    queueName: z.string().min(1).optional(),
    receive: receive.max(10).optional(),
    waitTimeSeconds: z.number().int().min(0).max(20).optional(),
    visibilityTimeout: z.number().int().min(0).max(43_200).optional(),
    fifo: z.boolean().optional(),
    maxReceiveCount: z.number().int().min(1).max(1_000).optional(),
    maxMessageBytes: z.number().int().min(1_024).max(1_048_576).optional(),
    maxAttempts: z.number().int().min(1).max(20).optional(),
  })
  .strict();
const brokerSchema = z.discriminatedUnion('type', [memoryBroker, rdsBroker, sqsBroker]);
const taskLogSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('memory'), maxEntries: z.number().int().positive().optional() }).strict(),
  z.object({ type: z.literal('rds'), connection: z.string().min(1).optional(), table: z.string().optional(), notify: z.boolean().optional() }).strict(),
]);

/** A token of the HTTP API: its secret inline or, better, in an environment variable; an owner limits it to that owner's tasks. */
const apiTokenSchema = z
  .object({ token: z.string().min(1).optional(), tokenEnv: z.string().min(1).optional(), owner: z.string().min(1).optional() })
  .strict()
  .refine((t) => (t.token === undefined) !== (t.tokenEnv === undefined), 'give exactly one of token and tokenEnv');
const apiSchema = z
  .object({ host: z.string().min(1).optional(), port: z.number().int().min(0).max(65_535).optional(), tokens: z.array(apiTokenSchema).optional() })
  .strict();

const configSchema = z
  .object({
    queues: z
      .array(
        z
          .object({
            name: z.string().min(1),
            weight: z.number().min(0).optional(),
            /** At most max starts in any perMs window, across every worker. */
            rateLimit: z.object({ max: z.number().int().min(1), perMs: z.number().int().min(1).max(86_400_000) }).strict().optional(),
            broker: brokerSchema,
          })
          .strict(),
      )
      .min(1),
    defaultQueue: z.string().optional(),
    associations: z.record(z.string(), z.string()).optional(),
    taskLog: taskLogSchema.optional(),
    tasks: z
      .array(
        z.custom<string | TaskClass | CallbackDefinition>(
          (v) => (typeof v === 'string' && v !== '') || isTaskClass(v) || isCallbackDefinition(v),
          'expected a module path, an AbstractTask subclass or defineCallback()',
        ),
      )
      .optional(),
    /** A folder of task modules loaded by task name; relative to the config file. */
    tasksDir: z.string().min(1).optional(),
    strategy: z.enum(['weighted', 'priority']).optional(),
    /** Task name -> at most this many running at once, across every worker. */
    maxConcurrent: z.record(z.string(), z.number().int().min(1)).optional(),
    /** Where `initialize-queue --broker` records switched brokers; relative to the config file. */
    stateFile: z.string().min(1).optional(),
    /** Recurring tasks, enqueued on their cron ticks by every worker (see Scheduler). */
    schedules: z.array(scheduleSchema).optional(),
    /** Deletes the task log's ended entries older than `olderThan` on `cron`'s ticks (see scheduledPrune.ts). */
    prune: pruneSchema.optional(),
    /** `taskq serve`: where the HTTP API listens and the tokens it takes (docs/api.md). */
    api: apiSchema.optional(),
  })
  .strict();

export type BrokerSettings = z.infer<typeof brokerSchema>;
export type TaskLogSettings = z.infer<typeof taskLogSchema>;

/** The config file's content, checked. */
export type TaskqConfig = z.infer<typeof configSchema> & {
  /** Folder that relative paths (sqlite files, task modules, state file) are resolved against. */
  baseDir?: string;
  /** The file it was read from, for messages. */
  source?: string;
};

export const CONFIG_FILE_NAMES = ['taskq.config.json', 'taskq.config.js', 'taskq.config.cjs', 'taskq.config.mjs'];

/** The config file the CLI uses: `path`, else TASKQ_CONFIG, else taskq.config.* in `cwd`. */
export function findConfigFile(path?: string, cwd = process.cwd()): string {
  const explicit = path ?? process.env.TASKQ_CONFIG;
  if (explicit) {
    const file = resolve(cwd, explicit);
    if (!existsSync(file)) throw new ConfigError(`Config file ${file} does not exist`);
    if (statSync(file).isDirectory()) throw new ConfigError(`Config file ${file} is a folder: name the file (${CONFIG_FILE_NAMES.join(', ')})`);
    return file;
  }
  for (const name of CONFIG_FILE_NAMES) {
    const file = join(cwd, name);
    if (existsSync(file)) return file;
  }
  throw new ConfigError(`No config file: pass --config PATH, set TASKQ_CONFIG, or create ${CONFIG_FILE_NAMES[0]} in ${cwd}`);
}

function formatPath(path: readonly PropertyKey[]): string {
  return path.reduce<string>((out, key) => (typeof key === 'number' ? `${out}[${key}]` : out ? `${out}.${String(key)}` : String(key)), '');
}

/** Checks a plain config object; a problem is one ConfigError naming the field. */
export function parseConfig(value: unknown, source = 'config'): TaskqConfig {
  const result = configSchema.safeParse(value);
  if (!result.success) {
    // An unknown key first: `quues` is what the user wrote, "queues: expected array" is only its effect.
    const issue = result.error.issues.find((i) => i.code === 'unrecognized_keys') ?? result.error.issues[0];
    const field = formatPath(issue.path);
    const keys = issue.code === 'unrecognized_keys' ? ` (${issue.keys.map((k) => formatPath([...issue.path, k])).join(', ')})` : '';
    throw new ConfigError(`${source}: ${field ? `${field}: ` : ''}${issue.message}${keys}`);
  }
  const config: TaskqConfig = result.data;
  const names = new Set<string>();
  config.queues.forEach((q, i) => {
    try {
      assertValidName('queue', q.name);
    } catch (error) {
      throw new ConfigError(`${source}: queues[${i}].name: ${(error as Error).message}`);
    }
    if (names.has(q.name)) throw new ConfigError(`${source}: queues[${i}].name: queue "${q.name}" is defined twice`);
    names.add(q.name);
  });
  if (config.defaultQueue !== undefined && !names.has(config.defaultQueue)) {
    throw new ConfigError(`${source}: defaultQueue: "${config.defaultQueue}" is not one of the queues (${[...names].join(', ')})`);
  }
  for (const [task, queue] of Object.entries(config.associations ?? {})) {
    if (!names.has(queue)) throw new ConfigError(`${source}: associations.${task}: unknown queue "${queue}" (queues: ${[...names].join(', ')})`);
  }
  checkScheduleNames(config.schedules ?? [], [...names], `${source}: schedules`);
  return { ...config, source };
}

/** Per-queue broker overrides written by `initialize-queue --broker`. */
export interface TaskqState {
  queues: Record<string, BrokerSettings>;
}

export function stateFileOf(config: TaskqConfig): string {
  return resolve(config.baseDir ?? process.cwd(), config.stateFile ?? '.taskq/state.json');
}

export function readState(config: TaskqConfig): TaskqState {
  const file = stateFileOf(config);
  if (!existsSync(file)) return { queues: {} };
  let value: unknown;
  try {
    value = JSON.parse(readFileSync(file, 'utf8'));
  } catch (error) {
    throw new ConfigError(`State file ${file} is not valid JSON: ${(error as Error).message}`);
  }
  const parsed = z.object({ queues: z.record(z.string(), brokerSchema) }).safeParse(value);
  if (!parsed.success) throw new ConfigError(`State file ${file}: ${formatPath(parsed.error.issues[0].path)}: ${parsed.error.issues[0].message}`);
  return parsed.data;
}

/** Reads, checks and returns the CLI's config, with the state file's broker switches applied. */
export async function loadConfig(path?: string, cwd = process.cwd()): Promise<TaskqConfig> {
  const file = findConfigFile(path, cwd);
  let value: unknown;
  const ext = extname(file);
  try {
    if (ext === '.json') value = JSON.parse(readFileSync(file, 'utf8'));
    else if (ext === '.mjs') value = ((await import(pathToFileURL(file).href)) as { default: unknown }).default;
    else {
      const mod = require(file) as { default?: unknown };
      value = mod && typeof mod === 'object' && 'default' in mod ? mod.default : mod;
    }
  } catch (error) {
    throw new ConfigError(`Config file ${file} could not be read: ${reasonOf(error)}`);
  }
  const config = { ...parseConfig(value, file), baseDir: dirname(file) };
  const state = readState(config);
  for (const queue of config.queues) {
    const override = state.queues[queue.name];
    if (override) queue.broker = override;
  }
  return config;
}


/** A relative sqlite path is relative to the config file, not to wherever the CLI runs. */
function resolveConnection(connection: string | undefined, baseDir: string): string {
  const conn = connection ?? 'sqlite:./taskq.db';
  if (!conn.startsWith('sqlite:')) return conn;
  const path = conn.slice('sqlite:'.length);
  // An empty path stays empty, so the broker reports it instead of opening the folder itself.
  return path === '' || path === ':memory:' || isAbsolute(path) ? conn : `sqlite:${resolve(baseDir, path)}`;
}

export function brokerConfigOf(settings: BrokerSettings | TaskLogSettings, baseDir: string): BrokerConfig {
  return settings.type === 'rds' ? { ...settings, connection: resolveConnection(settings.connection, baseDir) } : { ...settings };
}

async function loadTaskModule(spec: string, baseDir: string, source: string): Promise<(TaskClass | CallbackDefinition)[]> {
  const found = await loadExports(resolve(baseDir, spec), `${source}: tasks: module "${spec}"`);
  if (found.length === 0) throw new ConfigError(`${source}: tasks: module "${spec}" exports no AbstractTask subclass or defineCallback()`);
  return found;
}

/** Builds the dispatcher a config describes: brokers, queues, task log and the task registry. */
export { TaskModuleError } from './errors';

/**
 * `loadTasks: false` builds a dispatcher without the config's task modules, for commands that
 * never run or enqueue a task (reading the log in an incident, when the tasks do not load).
 */
export async function createDispatcher(config: TaskqConfig, options: { logger?: Logger; loadTasks?: boolean } = {}): Promise<QueueDispatcher> {
  // baseDir is not a field of the file (the strict schema would refuse it): checked apart.
  const { baseDir: givenBaseDir, ...fields } = config;
  const checked = config.source ? config : { ...parseConfig(fields), baseDir: givenBaseDir };
  const baseDir = checked.baseDir ?? process.cwd();
  const source = checked.source ?? 'config';
  const tasks: (TaskClass | CallbackDefinition)[] = [];
  const origins = new Map<TaskClass | CallbackDefinition, string>();
  const loadTasks = options.loadTasks ?? true;
  for (const entry of loadTasks ? (checked.tasks ?? []) : []) {
    if (typeof entry !== 'string') {
      tasks.push(entry);
      continue;
    }
    for (const found of await loadTaskModule(entry, baseDir, source)) {
      tasks.push(found);
      origins.set(found, `tasks: ${entry}`);
    }
  }
  const queues = checked.queues.map((q, i) => new Queue(q.name, createQueueBroker(brokerConfigOf(q.broker, baseDir), `${source}: queues[${i}].broker`), { weight: q.weight ?? 1, rateLimit: q.rateLimit }));
  const taskLog = new TaskLog(createTaskLogBroker(brokerConfigOf(checked.taskLog ?? { type: 'rds' }, baseDir), `${source}: taskLog`));
  const dispatcher = new QueueDispatcher({
    queues,
    defaultQueue: checked.defaultQueue,
    associations: checked.associations,
    taskLog,
    tasks: loadTasks ? tasks : undefined,
    tasksDir: loadTasks && checked.tasksDir !== undefined ? resolve(baseDir, checked.tasksDir) : undefined,
    strategy: checked.strategy,
    maxConcurrent: loadTasks ? checked.maxConcurrent : undefined,
    logger: options.logger,
  });
  for (const [entry, origin] of origins) dispatcher.registry.setOrigin(entry, origin);
  if (checked.prune) dispatcher.registry.register(pruneTaskFor(taskLog));
  const schedules = [...(checked.schedules ?? []), ...(checked.prune ? [pruneSchedule(checked.prune)] : [])];
  if (schedules.length > 0) declareSchedules(dispatcher, schedules, source);
  return dispatcher;
}
