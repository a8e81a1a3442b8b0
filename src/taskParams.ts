import { ConfigError } from './errors';

/**
 * Checks that a task's params survive the trip through JSON unchanged, so a task runs with the
 * params it was given on every broker (the sync queue hands over the object itself, the others
 * its JSON). Refused: params that are not a plain object, and anywhere inside them a value JSON
 * would change or drop — NaN and ±Infinity (become null), undefined in an array (null), a Date
 * (a string), a Map, a Set, a class instance ({}), a function or symbol (dropped), a BigInt or a
 * cycle (JSON.stringify throws). An object key whose value is undefined is allowed: JSON drops
 * it, and the task reads undefined either way.
 */
export function checkTaskParams(taskName: string, params: unknown): void {
  if (!isPlainObject(params)) throw new ConfigError(`Task "${taskName}" params must be a plain object, got ${describe(params)}`);
  if (isFlat(params)) return;
  walk(params, 'params', new Set(), (path, what) => {
    throw new ConfigError(`Task "${taskName}" ${path}: ${what}`);
  });
}

function walk(value: unknown, path: string, seen: Set<object>, fail: (path: string, what: string) => never): void {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return;
    case 'number':
      if (!Number.isFinite(value)) fail(path, `${value} cannot be carried as JSON (it would arrive as null)`);
      return;
    case 'undefined':
      return fail(path, 'undefined in an array cannot be carried as JSON (it would arrive as null)');
    case 'bigint':
      return fail(path, 'a BigInt cannot be carried as JSON (pass it as a string)');
    case 'function':
    case 'symbol':
      return fail(path, `a ${typeof value} cannot be carried as JSON`);
  }
  if (value === null) return;
  const object = value as object;
  if (seen.has(object)) fail(path, 'a cycle cannot be carried as JSON');
  seen.add(object);
  if (Array.isArray(object)) {
    object.forEach((item, i) => walk(item, `${path}[${i}]`, seen, fail));
  } else if (isPlainObject(object)) {
    for (const [key, item] of Object.entries(object)) {
      if (item !== undefined) walk(item, `${path}.${key}`, seen, fail);
    }
  } else {
    const hint = object instanceof Date ? ' (pass date.toISOString())' : object instanceof Map ? ' (pass Object.fromEntries(map))' : object instanceof Set ? ' (pass [...set])' : '';
    fail(path, `${describe(object)} cannot be carried as JSON unchanged${hint}`);
  }
  seen.delete(object);
}

/**
 * Params whose values are all strings, booleans, null, finite numbers or undefined pass as they
 * are: the common case, checked without the walk's Set and paths (the sync queue's hot path).
 */
function isFlat(params: Record<string, unknown>): boolean {
  for (const key in params) {
    if (!Object.hasOwn(params, key)) continue;
    const value = params[key];
    const type = typeof value;
    if (type === 'string' || type === 'boolean' || value === null || value === undefined) continue;
    if (type === 'number' && Number.isFinite(value)) continue;
    return false;
  }
  return true;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const proto = Object.getPrototypeOf(value) as unknown;
  return proto === Object.prototype || proto === null;
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'object') return `a ${(value as object).constructor?.name ?? 'object'}`;
  return typeof value;
}
