import pino from 'pino';
import type PinoPretty from 'pino-pretty';
import { ConfigError } from './errors';

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

/** `json`: one JSON object a line (for log collectors); `pretty`: one readable line each (for people). */
export type LogFormat = 'json' | 'pretty';

export interface LoggerOptions {
  /** Default: TASKQ_LOG_FORMAT, else `pretty` when the destination is a terminal, else `json`. */
  format?: LogFormat;
  /** Where lines go; default stderr. */
  destination?: NodeJS.WritableStream & { isTTY?: boolean };
}

const LOG_FORMATS: readonly LogFormat[] = ['json', 'pretty'];

/**
 * The default logger, through pino on stderr: JSON lines, or readable lines (pino-pretty) when
 * stderr is a terminal. Synchronous either way, so a line is written before the process exits.
 * Level from `level`, else TASKQ_LOG_LEVEL, else info; format as LoggerOptions.format says.
 */
export function createLogger(level?: LogLevel, options: LoggerOptions = {}): Logger {
  const resolved = level ?? (process.env.TASKQ_LOG_LEVEL as LogLevel | undefined) ?? 'info';
  const target = options.destination ?? process.stderr;
  const format = options.format ?? logFormatFromEnv() ?? (target.isTTY === true ? 'pretty' : 'json');
  const fd = options.destination ? undefined : 2;
  const destination =
    format === 'pretty'
      ? prettyStream()({ destination: fd ?? target, sync: true, colorize: target.isTTY === true && process.env.NO_COLOR === undefined, singleLine: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'hostname' })
      : fd === undefined
        ? target
        : pino.destination({ fd, sync: true });
  const log = pino({ level: resolved, base: { pid: process.pid } }, destination);
  return {
    isLevelEnabled: (level) => log.isLevelEnabled(level),
    debug: (message, fields) => log.debug(fields ?? {}, message),
    info: (message, fields) => log.info(fields ?? {}, message),
    warn: (message, fields) => log.warn(fields ?? {}, message),
    error: (message, fields) => log.error(fields ?? {}, message),
  };
}

/** pino-pretty, loaded for a logger that prints for people only (JSON loggers never need it). */
function prettyStream(): typeof PinoPretty {
  return (require('pino-pretty') as { default: typeof PinoPretty }).default;
}

/** TASKQ_LOG_FORMAT, checked: a typo is an error rather than a silent fallback. */
function logFormatFromEnv(): LogFormat | undefined {
  const value = process.env.TASKQ_LOG_FORMAT;
  if (value === undefined || value === '') return undefined;
  if (!(LOG_FORMATS as readonly string[]).includes(value)) throw new ConfigError(`TASKQ_LOG_FORMAT must be ${LOG_FORMATS.map((f) => `"${f}"`).join(' or ')}, got "${value}"`);
  return value as LogFormat;
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
