import type { Knex } from 'knex';
import type { TaskLogColumn } from '../../../src/taskLog/taskLogEntry';
import type { FilterValue, TaskLogFilter } from '../../../src/taskLog/taskLogFilter';

/** Filter column -> SQL column. Only these names ever reach the query as identifiers. */
export const COLUMN_NAMES: Record<TaskLogColumn, string> = {
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
};

function sqlValue(value: FilterValue): string | number | null {
  return value instanceof Date ? value.getTime() : value;
}

/** Adds the filter's conditions (values always bound, never inlined) to a task log query. */
export function applyConditions(query: Knex.QueryBuilder, filter: TaskLogFilter): Knex.QueryBuilder {
  for (const { column, operator, value } of filter.conditions) {
    const col = COLUMN_NAMES[column];
    const list = Array.isArray(value) ? (value as FilterValue[]).map(sqlValue) : [];
    const one = Array.isArray(value) ? null : sqlValue(value as FilterValue);
    switch (operator) {
      case 'eq':
        if (one === null) query.whereNull(col);
        else query.where(col, one);
        break;
      case 'neq':
        if (one === null) query.whereNotNull(col);
        else query.where(col, '<>', one);
        break;
      case 'lt':
        query.where(col, '<', one);
        break;
      case 'lte':
        query.where(col, '<=', one);
        break;
      case 'gt':
        query.where(col, '>', one);
        break;
      case 'gte':
        query.where(col, '>=', one);
        break;
      case 'like':
        // LOWER on both sides: case-insensitive on every dialect, as the filter promises.
        query.whereRaw('LOWER(??) LIKE LOWER(?)', [col, String(one)]);
        break;
      case 'in':
        if (list.length === 0) query.whereRaw('1 = 0');
        else query.whereIn(col, list as (string | number)[]);
        break;
      case 'notIn':
        query.whereNotNull(col);
        if (list.length > 0) query.whereNotIn(col, list as (string | number)[]);
        break;
    }
  }
  return query;
}

export function applyPaging(query: Knex.QueryBuilder, filter: TaskLogFilter): Knex.QueryBuilder {
  for (const { column, direction } of filter.sorts) query.orderBy(COLUMN_NAMES[column], direction);
  if (filter.sorts.length === 0) query.orderBy([{ column: 'created_at' }, { column: 'id' }]);
  if (filter.limitValue !== undefined) query.limit(filter.limitValue);
  if (filter.offsetValue !== undefined) {
    if (filter.limitValue === undefined) query.limit(Number.MAX_SAFE_INTEGER);
    query.offset(filter.offsetValue);
  }
  return query;
}
