import { type TaskqConfig, createDispatcher, loadConfig } from '../src/config';
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

/** Loads the config and builds its dispatcher; the dispatcher is closed after `fn`, whatever happens. */
export async function withDispatcher<T>(global: GlobalOptions, fn: (ctx: CommandContext) => Promise<T>): Promise<T> {
  const config = await loadConfig(global.config);
  const dispatcher = await createDispatcher(config, { logger: createLogger(global.logLevel) });
  try {
    return await fn({ config, dispatcher });
  } finally {
    await dispatcher.close();
  }
}
