import { ConfigError } from './errors';

const UNIT_MS = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

/**
 * A duration such as "30d", "12h", "90m" or "45s" in milliseconds: a whole number and one unit
 * (d days, h hours, m minutes, s seconds). `option` names where it was given, for the error.
 */
export function parseDuration(value: string, option: string): number {
  const match = typeof value === 'string' ? /^(\d{1,9})([dhms])$/.exec(value.trim()) : null;
  const ms = match ? Number(match[1]) * UNIT_MS[match[2] as keyof typeof UNIT_MS] : NaN;
  if (!match || ms <= 0) throw new ConfigError(`${option}: ${JSON.stringify(value)} is not a duration: give a whole number above 0 and a unit, d, h, m or s (such as 30d, 12h, 90m, 45s)`);
  return ms;
}
