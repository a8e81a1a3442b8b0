import { TaskqError } from '../errors';
import { TASK_LOG_COLUMNS, type TaskLogColumn } from './taskLogEntry';

/** A value as callers give it: times may be Dates, epoch milliseconds or ISO 8601 strings. */
export type FilterValue = string | number | Date | null;
export type FilterOperator = 'eq' | 'neq' | 'lt' | 'lte' | 'gt' | 'gte' | 'like' | 'in' | 'notIn';
export type SortDirection = 'asc' | 'desc';
export type ColumnType = 'text' | 'integer' | 'time';

/** The type of each column decides the values and operators it takes, the same on every broker. */
export const COLUMN_TYPES: Readonly<Record<TaskLogColumn, ColumnType>> = Object.freeze({
  id: 'text',
  parentId: 'text',
  taskName: 'text',
  label: 'text',
  status: 'text',
  owner: 'text',
  queue: 'text',
  workerId: 'text',
  attempts: 'integer',
  createdAt: 'time',
  updatedAt: 'time',
  startedAt: 'time',
  finishedAt: 'time',
  leaseUntil: 'time',
});

/** A value as brokers compare it: a string for text columns, a number (times in epoch ms) otherwise. */
export type ColumnValue = string | number;

/** One validated condition. Brokers switch on `operator` and must refuse any other. */
export type FilterCondition =
  | { readonly column: TaskLogColumn; readonly operator: 'eq' | 'neq'; readonly value: ColumnValue | null }
  | { readonly column: TaskLogColumn; readonly operator: 'lt' | 'lte' | 'gt' | 'gte'; readonly value: ColumnValue }
  | { readonly column: TaskLogColumn; readonly operator: 'like'; readonly value: string }
  | { readonly column: TaskLogColumn; readonly operator: 'in' | 'notIn'; readonly values: readonly ColumnValue[] };

export interface FilterSort {
  readonly column: TaskLogColumn;
  readonly direction: SortDirection;
}

/** What a broker runs: a filter's state, validated and frozen. */
export interface FilterSnapshot {
  readonly conditions: readonly FilterCondition[];
  /** The caller's sorts, then createdAt and id: a total order, so pages never overlap or skip. */
  readonly sorts: readonly FilterSort[];
  readonly limit?: number;
  readonly offset?: number;
}

const INT_MIN = -2_147_483_648;
const INT_MAX = 2_147_483_647;
/** The range of a Date, in epoch ms. */
const TIME_MAX = 8.64e15;
const ISO_DATE = /^(\d{4})-(\d{2})-(\d{2})(?:T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:\d{2})?)?$/;

/** A value as it appears in an error message. */
function show(value: unknown): string {
  let text: string;
  if (value instanceof Date) text = Number.isNaN(value.getTime()) ? 'Invalid Date' : `Date(${value.toISOString()})`;
  else if (Array.isArray(value)) text = `[${value.map(show).join(', ')}]`;
  else if (typeof value === 'string') text = JSON.stringify(value);
  else if (typeof value === 'object' && value !== null) text = Object.prototype.toString.call(value);
  else text = String(value);
  return text.length > 120 ? `${text.slice(0, 117)}...` : text;
}

/** The error brokers throw for a filter that did not come from TaskLogFilter's own methods. */
export function invalidFilter(part: 'column' | 'operator' | 'direction', value: unknown): never {
  throw new TaskqError(`Unknown task log filter ${part} ${show(value)}: build filters with TaskLogFilter's methods`);
}

function checkColumn(column: string): TaskLogColumn {
  if (!(TASK_LOG_COLUMNS as readonly string[]).includes(column)) {
    throw new TaskqError(`Unknown task log column "${column}"; filterable columns: ${TASK_LOG_COLUMNS.join(', ')}`);
  }
  return column as TaskLogColumn;
}

/** A date string is checked by hand as well: Date.parse reads 2024-02-30 as March 1st. */
function isoToEpochMs(text: string): number | undefined {
  const match = ISO_DATE.exec(text);
  if (!match) return undefined;
  const [year, month, day] = match.slice(1, 4).map(Number);
  const probe = new Date(0);
  probe.setUTCFullYear(year, month - 1, day);
  if (probe.getUTCMonth() !== month - 1 || probe.getUTCDate() !== day) return undefined;
  const ms = Date.parse(text);
  return Number.isNaN(ms) ? undefined : ms;
}

function toEpochMs(value: unknown): number | undefined {
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? undefined : value.getTime();
  // Integers only: a fraction would be compared as is by SQLite and memory, and refused by PostgreSQL's bigint.
  if (typeof value === 'number') return Number.isInteger(value) && Math.abs(value) <= TIME_MAX ? value : undefined;
  if (typeof value === 'string') return isoToEpochMs(value);
  return undefined;
}

/** The value as brokers compare it with `column`, or a TaskqError naming both. */
function toColumnValue(column: TaskLogColumn, value: unknown, where: () => string): ColumnValue {
  switch (COLUMN_TYPES[column]) {
    case 'text':
      if (typeof value === 'string') return value;
      throw new TaskqError(`${where()}: ${column} is a text column, it takes strings, not ${show(value)}`);
    case 'integer':
      // The column is an SQL INTEGER: PostgreSQL refuses a wider value rather than compare it.
      if (typeof value === 'number' && Number.isInteger(value) && value >= INT_MIN && value <= INT_MAX) return value;
      throw new TaskqError(`${where()}: ${column} is an integer column, it takes integers (32-bit), not ${show(value)}`);
    case 'time': {
      const ms = toEpochMs(value);
      if (ms !== undefined) return ms;
      throw new TaskqError(`${where()}: ${show(value)} is not a valid time for ${column}, which takes a Date, integer epoch milliseconds or an ISO 8601 date string`);
    }
  }
}

function toCondition(column: string, operator: FilterOperator, value: unknown): FilterCondition {
  const col = checkColumn(column);
  // Built only for an error message: conditions are added on busy paths (settleParent).
  const where = () => `Task log filter ${operator}("${col}", ${show(value)})`;
  switch (operator) {
    case 'eq':
    case 'neq':
      return Object.freeze({ column: col, operator, value: value === null ? null : toColumnValue(col, value, where) });
    case 'lt':
    case 'lte':
    case 'gt':
    case 'gte':
      if (value === null) throw new TaskqError(`${where()}: null is only allowed with eq and neq (IS NULL, IS NOT NULL); any other comparison with null matches nothing`);
      return Object.freeze({ column: col, operator, value: toColumnValue(col, value, where) });
    case 'like':
      // LIKE on a number or a time would compare its text, which each database writes differently.
      if (COLUMN_TYPES[col] !== 'text') throw new TaskqError(`${where()}: like applies to text columns only; ${col} is ${COLUMN_TYPES[col] === 'integer' ? 'an integer' : 'a time'} column`);
      if (typeof value !== 'string') throw new TaskqError(`${where()}: a like pattern is a string`);
      return Object.freeze({ column: col, operator, value });
    case 'in':
    case 'notIn':
      if (!Array.isArray(value)) throw new TaskqError(`${where()}: ${operator} takes an array of values`);
      if (value.includes(null)) throw new TaskqError(`${where()}: null is only allowed with eq and neq (IS NULL, IS NOT NULL)`);
      return Object.freeze({ column: col, operator, values: Object.freeze(value.map((v: unknown) => toColumnValue(col, v, where))) });
    default:
      return invalidFilter('operator', operator);
  }
}

function checkCount(what: 'limit' | 'offset', n: number): number {
  // Safe integers: LIMIT and OFFSET are 64-bit in SQL, and memory slices by them exactly.
  if (!Number.isSafeInteger(n) || n < 0) throw new TaskqError(`Filter ${what} must be an integer >= 0, got ${show(n)}`);
  return n;
}

/**
 * Conditions on task log columns, ANDed together, with sort, limit and offset. Every value is
 * checked against its column's type when the condition is added, and the state is private: what
 * a broker runs is only ever what these methods accepted (see TaskLogFilter.snapshot).
 */
export class TaskLogFilter {
  #conditions: FilterCondition[] = [];
  #sorts: FilterSort[] = [];
  #limit: number | undefined;
  #offset: number | undefined;

  #add(column: TaskLogColumn, operator: FilterOperator, value: unknown): this {
    this.#conditions.push(toCondition(column, operator, value));
    return this;
  }

  /** `=`; `eq(column, null)` is IS NULL. */
  eq(column: TaskLogColumn, value: FilterValue): this {
    return this.#add(column, 'eq', value);
  }
  /** `<>`, which never matches a NULL; `neq(column, null)` is IS NOT NULL. */
  neq(column: TaskLogColumn, value: FilterValue): this {
    return this.#add(column, 'neq', value);
  }
  lt(column: TaskLogColumn, value: Exclude<FilterValue, null>): this {
    return this.#add(column, 'lt', value);
  }
  lte(column: TaskLogColumn, value: Exclude<FilterValue, null>): this {
    return this.#add(column, 'lte', value);
  }
  gt(column: TaskLogColumn, value: Exclude<FilterValue, null>): this {
    return this.#add(column, 'gt', value);
  }
  gte(column: TaskLogColumn, value: Exclude<FilterValue, null>): this {
    return this.#add(column, 'gte', value);
  }
  /** Text columns only: `%` any run of characters, `_` one character, ASCII case ignored. */
  like(column: TaskLogColumn, pattern: string): this {
    return this.#add(column, 'like', pattern);
  }
  in(column: TaskLogColumn, values: readonly Exclude<FilterValue, null>[]): this {
    return this.#add(column, 'in', values);
  }
  notIn(column: TaskLogColumn, values: readonly Exclude<FilterValue, null>[]): this {
    return this.#add(column, 'notIn', values);
  }

  sort(column: TaskLogColumn, direction: SortDirection = 'asc'): this {
    if (direction !== 'asc' && direction !== 'desc') throw new TaskqError(`Sort direction must be asc or desc, got ${show(direction)}`);
    this.#sorts.push(Object.freeze({ column: checkColumn(column), direction }));
    return this;
  }

  limit(limit: number): this {
    this.#limit = checkCount('limit', limit);
    return this;
  }

  offset(offset: number): this {
    this.#offset = checkCount('offset', offset);
    return this;
  }

  /** The same conditions without sort, limit or offset (for counts). */
  withoutPaging(): TaskLogFilter {
    const copy = new TaskLogFilter();
    copy.#conditions = [...TaskLogFilter.snapshot(this).conditions];
    return copy;
  }

  /**
   * What brokers run. Static, and reading the private fields, so neither a subclass nor an object
   * cast to TaskLogFilter can hand a broker conditions these methods did not check.
   */
  static snapshot(filter: TaskLogFilter): FilterSnapshot {
    if (typeof filter !== 'object' || filter === null || !(#conditions in filter)) {
      throw new TaskqError(`Not a TaskLogFilter: ${show(filter)}; build filters with new TaskLogFilter() and its methods`);
    }
    const sorts = [...filter.#sorts];
    for (const column of ['createdAt', 'id'] as const) {
      if (sorts.some((s) => s.column === 'id')) break;
      if (!sorts.some((s) => s.column === column)) sorts.push(Object.freeze({ column, direction: 'asc' }));
    }
    return Object.freeze({ conditions: Object.freeze([...filter.#conditions]), sorts: Object.freeze(sorts), limit: filter.#limit, offset: filter.#offset });
  }
}

/** Lower case for ASCII letters only: what SQLite's LOWER and PostgreSQL's under "C" do. */
const asciiLower = (text: string): string => text.replace(/[A-Z]+/g, (letters) => letters.toLowerCase());

/**
 * A LIKE pattern as the SQL brokers run it, for brokers that filter in memory: `%` and `_` are the
 * only special characters (a backslash is literal), `_` is one code point, ASCII case is ignored.
 */
export function likeMatcher(pattern: string): (value: string) => boolean {
  const source = asciiLower(pattern).replace(/[.*+?^${}()|[\]\\]/g, '\\$&').replace(/%/g, '.*').replace(/_/g, '.');
  const re = new RegExp(`^${source}$`, 'su');
  return (value) => re.test(asciiLower(value));
}

/**
 * Text order by code point, as SQLite (BINARY) and PostgreSQL (COLLATE "C") compare UTF-8 bytes.
 * JavaScript's `<` compares UTF-16 units, which put U+E000–U+FFFF after the characters above U+FFFF.
 */
export function compareText(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    let x = a.charCodeAt(i);
    let y = b.charCodeAt(i);
    if (x === y) continue;
    if (x >= 0xd800 && y >= 0xd800) {
      x += x < 0xe000 ? 0x2000 : -0x800;
      y += y < 0xe000 ? 0x2000 : -0x800;
    }
    return x - y;
  }
  return a.length - b.length;
}
