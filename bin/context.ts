import { type TaskqConfig, TaskModuleError, createDispatcher, loadConfig } from '../src/config';
import { type LogLevel, createLogger } from '../src/logger';
import type { QueueDispatcher } from '../src/queueDispatcher';

export interface GlobalOptions {
  config?: string;
  logLevel?: LogLevel;
}

export interface CommandContext {
  config: TaskqConfig;
  dispatcher: QueueDispatcher;
}

/**
 * Loads the config and builds its dispatcher; the dispatcher is closed after `fn`, whatever
 * happens. With `tasksOptional` (commands that never run or enqueue a task), a tasks module that
 * fails to load is a warning, not the end: the task log can still be read in an incident.
 */
export async function withDispatcher<T>(global: GlobalOptions, fn: (ctx: CommandContext) => Promise<T>, options: { tasksOptional?: boolean } = {}): Promise<T> {
  const config = await loadConfig(global.config);
  const logger = createLogger(global.logLevel);
  let dispatcher;
  try {
    dispatcher = await createDispatcher(config, { logger });
  } catch (error) {
    if (!(options.tasksOptional && error instanceof TaskModuleError)) throw error;
    logger.warn(`${error.message}; going on without the tasks, as this command does not need them`);
    dispatcher = await createDispatcher(config, { logger, loadTasks: false });
  }
  try {
    return await fn({ config, dispatcher });
  } finally {
    await dispatcher.close();
  }
}
