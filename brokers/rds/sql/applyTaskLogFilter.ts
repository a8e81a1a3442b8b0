import type { Knex } from 'knex';
import type { TaskLogColumn } from '../../../src/taskLog/taskLogEntry';
import { COLUMN_TYPES, type FilterCondition, type FilterSnapshot, invalidFilter } from '../../../src/taskLog/taskLogFilter';
import type { Dialect } from '../connection';

/** Bindings one statement may carry: under SQLite's 32,766, with room for the statement's own. */
export const MAX_BINDINGS = 20_000;

/** Filter column -> SQL column. Only these names ever reach the query as identifiers. */
export const COLUMN_NAMES: Readonly<Record<TaskLogColumn, string>> = {
  id: 'id',
  parentId: 'parent_id',
  taskName: 'task_name',
  label: 'label',
  status: 'status',
  owner: 'owner',
  queue: 'queue',
  attempts: 'attempts',
  workerId: 'worker_id',
  createdAt: 'created_at',
  updatedAt: 'updated_at',
  startedAt: 'started_at',
  finishedAt: 'finished_at',
  leaseUntil: 'lease_until',
};

const COMPARISONS = { lt: '<', lte: '<=', gt: '>', gte: '>=' } as const;

/** The column with A–Z folded to a–z and no other letter: MySQL's LOWER folds É to é too. */
const MYSQL_ASCII_LOWER = Array.from({ length: 26 }, (_, i) => String.fromCharCode(65 + i)).reduce((sql, upper) => `REPLACE(${sql}, '${upper}', '${upper.toLowerCase()}')`, '??');

/**
 * Case-insensitive for ASCII letters, `%` and `_` the only wildcards, a backslash literal: as the
 * memory broker matches. PostgreSQL escapes with a backslash unless told ESCAPE ''; SQLite has no
 * escape character unless given one (and refuses ''); MariaDB takes ESCAPE '' as the backslash,
 * so there the escape is `!`, doubled in the pattern (likePattern). Under "C", PostgreSQL's LOWER
 * folds ASCII letters only, as SQLite's does; the database's own collation would fold É to é too.
 * MySQL's columns are utf8mb4_bin (see schema.ts): LIKE is case-sensitive there, both sides are
 * folded by hand.
 */
const LIKE: Record<Dialect, string> = {
  sqlite: 'LOWER(??) LIKE LOWER(?)',
  postgres: `LOWER(?? COLLATE "C") LIKE LOWER(? COLLATE "C") ESCAPE ''`,
  mysql: `${MYSQL_ASCII_LOWER} LIKE ? ESCAPE '!'`,
};

/** The LIKE pattern as the dialect's LIKE above takes it. */
function likePattern(pattern: string, dialect: Dialect): string {
  if (dialect !== 'mysql') return pattern;
  return pattern.replace(/[A-Z]/g, (c) => c.toLowerCase()).replace(/!/g, '!!');
}

/** The SQL column; the check stands even though the snapshot was validated, as this is SQL text. */
function sqlColumn(column: TaskLogColumn): string {
  if (!Object.hasOwn(COLUMN_NAMES, column)) return invalidFilter('column', column);
  return COLUMN_NAMES[column];
}

/**
 * The column as it is compared and sorted: text by code point on every broker, as the memory
 * broker and SQLite do. A PostgreSQL database's collation (en_US, ICU) would put "a" before "B".
 */
function orderedColumn(column: TaskLogColumn, dialect: Dialect): string {
  return dialect === 'postgres' && COLUMN_TYPES[column] === 'text' ? '?? COLLATE "C"' : '??';
}

/** Adds the filter's conditions (values always bound, never inlined) to a task log query. */
export function applyConditions(query: Knex.QueryBuilder, conditions: readonly FilterCondition[], dialect: Dialect): Knex.QueryBuilder {
  for (const condition of conditions) {
    const col = sqlColumn(condition.column);
    switch (condition.operator) {
      case 'eq':
        if (condition.value === null) query.whereNull(col);
        else query.where(col, condition.value);
        break;
      case 'neq':
        if (condition.value === null) query.whereNotNull(col);
        else query.where(col, '<>', condition.value);
        break;
      case 'lt':
      case 'lte':
      case 'gt':
      case 'gte':
        query.whereRaw(`${orderedColumn(condition.column, dialect)} ${COMPARISONS[condition.operator]} ?`, [col, condition.value]);
        break;
      case 'like':
        query.whereRaw(LIKE[dialect], [col, likePattern(condition.value, dialect)]);
        break;
      case 'in':
        if (condition.values.length === 0) query.whereRaw('1 = 0');
        else query.whereIn(col, [...condition.values]);
        break;
      case 'notIn':
        query.whereNotNull(col);
        if (condition.values.length > 0) query.whereNotIn(col, [...condition.values]);
        break;
      default:
        // Never silently dropped: a condition left out would match every row.
        invalidFilter('operator', (condition as { operator?: unknown }).operator);
    }
  }
  return query;
}

/** ORDER BY, LIMIT and OFFSET for a search. */
export function applyPaging(query: Knex.QueryBuilder, { sorts, limit, offset }: FilterSnapshot, dialect: Dialect): Knex.QueryBuilder {
  for (const { column, direction } of sorts) {
    // Inlined into the SQL text, so checked here whatever the snapshot promises.
    if (direction !== 'asc' && direction !== 'desc') invalidFilter('direction', direction);
    // NULLs first ascending and last descending: SQLite's and MySQL's default (MySQL has no
    // NULLS FIRST), PostgreSQL's opposite.
    const nulls = dialect === 'mysql' ? '' : direction === 'asc' ? ' NULLS FIRST' : ' NULLS LAST';
    query.orderByRaw(`${orderedColumn(column, dialect)} ${direction}${nulls}`, [sqlColumn(column)]);
  }
  if (limit !== undefined) query.limit(limit);
  if (offset !== undefined) {
    if (limit === undefined) query.limit(Number.MAX_SAFE_INTEGER);
    query.offset(offset);
  }
  return query;
}
