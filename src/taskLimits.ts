import { ConfigError } from './errors';

/** At most `max` task starts in any `perMs` window, across every worker (a queue's rateLimit). */
export interface RateLimit {
  max: number;
  perMs: number;
}

/**
 * The limits a claim must keep, checked and counted by the task log where claims are made, so
 * they hold across every worker and host sharing that log.
 */
export interface ClaimLimits {
  /** Starts counted under `key` (the queue's name): at most `max` in any `perMs` window. */
  rate?: RateLimit & { key: string };
  /** At most `max` tasks named `taskName` running at once (leases that ran out do not count). */
  concurrency?: { taskName: string; max: number };
}

/** How soon a task held back by maxConcurrent looks again: a slot's end is not announced. */
export const CONCURRENCY_RETRY_MS = 250;

/** The longest window a rate limit may have (a day): its starts are kept that long. */
const MAX_RATE_WINDOW_MS = 86_400_000;

export function checkRateLimit(value: unknown, where: string): RateLimit {
  const ok =
    typeof value === 'object' &&
    value !== null &&
    Object.keys(value).every((key) => key === 'max' || key === 'perMs') &&
    Number.isInteger((value as RateLimit).max) &&
    (value as RateLimit).max >= 1 &&
    Number.isInteger((value as RateLimit).perMs) &&
    (value as RateLimit).perMs >= 1 &&
    (value as RateLimit).perMs <= MAX_RATE_WINDOW_MS;
  if (!ok) throw new ConfigError(`${where} must be { max, perMs }: max an integer >= 1, perMs an integer of ms from 1 to ${MAX_RATE_WINDOW_MS} (a day), got ${JSON.stringify(value)}`);
  return { max: (value as RateLimit).max, perMs: (value as RateLimit).perMs };
}

export function checkMaxConcurrent(value: unknown, where: string): number {
  if (!Number.isInteger(value) || (value as number) < 1) throw new ConfigError(`${where} must be an integer >= 1, got ${JSON.stringify(value)}`);
  return value as number;
}

/**
 * When the next start fits a rate window, given the starts inside it (epoch ms, any order):
 * 0 when fewer than `max`, else the ms until the oldest that counts leaves the window.
 */
export function rateWaitMs(starts: readonly number[], limit: RateLimit, now: number): number {
  const inWindow = starts.filter((at) => at > now - limit.perMs).sort((a, b) => a - b);
  if (inWindow.length < limit.max) return 0;
  return Math.max(1, inWindow[inWindow.length - limit.max] + limit.perMs - now + 1);
}
