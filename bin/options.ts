import { InvalidArgumentError } from 'commander';

/** commander parsers: a bad value becomes one usage error (exit 2) naming the flag. */
export function positiveInt(flag: string) {
  return wholeNumber(flag, 1);
}

export function nonNegativeInt(flag: string) {
  return wholeNumber(flag, 0);
}

function wholeNumber(flag: string, min: number) {
  return (value: string): number => {
    const n = Number(value);
    if (!/^\d+$/.test(value) || n < min) throw new InvalidArgumentError(`${flag} must be a whole number >= ${min}`);
    if (!Number.isSafeInteger(n)) throw new InvalidArgumentError(`${flag} is too large (at most ${Number.MAX_SAFE_INTEGER})`);
    return n;
  };
}

export function oneOf<T extends string>(flag: string, values: readonly T[]) {
  return (value: string): T => {
    if (!(values as readonly string[]).includes(value)) throw new InvalidArgumentError(`${flag} must be one of ${values.join(', ')}`);
    return value as T;
  };
}

/** An http(s) URL, such as an SQS-compatible server's endpoint. */
export function url(flag: string) {
  return (value: string): string => {
    const parsed = URL.canParse(value) ? new URL(value) : undefined;
    if (!parsed || !/^https?:$/.test(parsed.protocol)) throw new InvalidArgumentError(`${flag} must be an http(s) URL such as http://127.0.0.1:4566`);
    return value;
  };
}

/** A comma-separated list of task ids, each non-empty (--after a,b). */
export function idList(flag: string) {
  return (value: string): string[] => {
    const ids = value.split(',').map((id) => id.trim());
    if (ids.some((id) => id === '')) throw new InvalidArgumentError(`${flag} must be task ids separated by commas, such as 8f1c…,90ab…`);
    return ids;
  };
}
