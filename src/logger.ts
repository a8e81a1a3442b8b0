import pino from 'pino';

export type LogFields = Record<string, unknown>;

/** What taskq logs through. pino, winston and most structured loggers fit with a one-line adapter. */
export interface Logger {
  /** Optional: false lets callers skip building a line nobody will see (per-task lines are hot). */
  isLevelEnabled?(level: Exclude<LogLevel, 'silent'>): boolean;
  debug(message: string, fields?: LogFields): void;
  info(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  error(message: string, fields?: LogFields): void;
}

export type LogLevel = 'debug' | 'info' | 'warn' | 'error' | 'silent';

/**
 * The default logger: JSON lines on stderr through pino (synchronous, so a line is written before
 * the process exits). Level from `level`, else TASKQ_LOG_LEVEL, else info.
 */
export function createLogger(level?: LogLevel): Logger {
  const resolved = level ?? (process.env.TASKQ_LOG_LEVEL as LogLevel | undefined) ?? 'info';
  const log = pino({ level: resolved, base: { pid: process.pid } }, pino.destination({ fd: 2, sync: true }));
  return {
    isLevelEnabled: (level) => log.isLevelEnabled(level),
    debug: (message, fields) => log.debug(fields ?? {}, message),
    info: (message, fields) => log.info(fields ?? {}, message),
    warn: (message, fields) => log.warn(fields ?? {}, message),
    error: (message, fields) => log.error(fields ?? {}, message),
  };
}

export const silentLogger: Logger = {
  isLevelEnabled: () => false,
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
};

/** A logger that adds `fields` to every line. */
export function withFields(logger: Logger, fields: LogFields): Logger {
  return {
    isLevelEnabled: logger.isLevelEnabled && ((level) => (logger.isLevelEnabled as NonNullable<Logger['isLevelEnabled']>)(level)),
    debug: (message, more) => logger.debug(message, { ...fields, ...more }),
    info: (message, more) => logger.info(message, { ...fields, ...more }),
    warn: (message, more) => logger.warn(message, { ...fields, ...more }),
    error: (message, more) => logger.error(message, { ...fields, ...more }),
  };
}
