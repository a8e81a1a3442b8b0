import { COLUMN_TYPES, TASK_LOG_COLUMNS, TaskLogFilter, TaskStatus, TaskqError, type FilterValue, type TaskLogColumn } from '../src';
import { ApiError } from './apiError';
import type { ApiAccess } from './auth';
import { type FilterQuery, SHORTCUT_COLUMNS, type TaskListQuery } from './schemas';

/**
 * The query string's filter syntax, turned into a TaskLogFilter through its own methods only (so
 * every value is checked against its column's type, and reaches SQL as a bound value):
 *
 *   ?status=failed&taskName=SendEmail                   equality shortcuts
 *   &filter=createdAt:gte:2026-01-01T00:00:00Z           column:operator:value, repeatable
 *   &filter=status:in:failed,cancelled                   in / notIn: comma-separated
 *   &filter=parentId:isNull                              IS NULL / IS NOT NULL (notNull)
 *   &sort=finishedAt:desc&limit=50&offset=100
 */

const OPERATORS = ['eq', 'neq', 'lt', 'lte', 'gt', 'gte', 'like', 'in', 'notIn', 'isNull', 'notNull'] as const;
type QueryOperator = (typeof OPERATORS)[number];

const list = (value: string | string[] | undefined): string[] => (value === undefined ? [] : Array.isArray(value) ? value : [value]);

function column(text: string, field: string): TaskLogColumn {
  if (!(TASK_LOG_COLUMNS as readonly string[]).includes(text)) {
    throw new ApiError(400, `Unknown column "${text}"; columns: ${TASK_LOG_COLUMNS.join(', ')}`, field);
  }
  return text as TaskLogColumn;
}

/** The text of the query as the column compares it: integers and epoch ms as numbers, the rest as given. */
function valueOf(col: TaskLogColumn, text: string): Exclude<FilterValue, null> {
  const type = COLUMN_TYPES[col];
  if (type === 'integer' && /^-?\d+$/.test(text)) return Number(text);
  if (type === 'time' && /^-?\d+$/.test(text)) return Number(text);
  return text;
}

/** Adds `column:operator:value`; a value may itself hold colons (times do). */
function addCondition(filter: TaskLogFilter, spec: string): void {
  const field = 'filter';
  const first = spec.indexOf(':');
  if (first < 0) throw new ApiError(400, `Filter "${spec}" is not column:operator:value`, field);
  const col = column(spec.slice(0, first), field);
  const second = spec.indexOf(':', first + 1);
  const op = spec.slice(first + 1, second < 0 ? undefined : second);
  const raw = second < 0 ? undefined : spec.slice(second + 1);
  if (!(OPERATORS as readonly string[]).includes(op)) throw new ApiError(400, `Unknown filter operator "${op}" in "${spec}"; operators: ${OPERATORS.join(', ')}`, field);
  const operator = op as QueryOperator;
  if (operator === 'isNull' || operator === 'notNull') {
    if (raw !== undefined) throw new ApiError(400, `Filter "${spec}": ${operator} takes no value`, field);
    if (operator === 'isNull') filter.eq(col, null);
    else filter.neq(col, null);
    return;
  }
  if (raw === undefined) throw new ApiError(400, `Filter "${spec}" has no value: write ${col}:${operator}:VALUE`, field);
  try {
    if (operator === 'in' || operator === 'notIn') filter[operator](col, raw.split(',').map((v) => valueOf(col, v)));
    else if (operator === 'like') filter.like(col, raw);
    else filter[operator](col, valueOf(col, raw));
  } catch (error) {
    if (error instanceof TaskqError) throw new ApiError(400, `Filter "${spec}": ${error.message}`, field);
    throw error;
  }
}

/** The conditions of a list or stats query, scoped to the caller's owner. */
export function filterOf(query: FilterQuery, access: ApiAccess): TaskLogFilter {
  const filter = new TaskLogFilter();
  for (const col of SHORTCUT_COLUMNS) {
    const value = query[col];
    if (value === undefined) continue;
    if (col === 'status' && !(Object.values(TaskStatus) as string[]).includes(value)) {
      throw new ApiError(400, `Unknown status "${value}"; statuses: ${Object.values(TaskStatus).join(', ')}`, col);
    }
    filter.eq(col, value);
  }
  for (const spec of list(query.filter)) addCondition(filter, spec);
  if (access.owner !== undefined) filter.eq('owner', access.owner);
  return filter;
}

/** True when the query says which statuses it wants: then archived tasks are not left out. */
function namesStatus(query: FilterQuery): boolean {
  return query.status !== undefined || list(query.filter).some((spec) => spec.startsWith('status:'));
}

/** A list query's filter: its conditions, sort (default newest first), limit and offset. */
export function listFilterOf(query: TaskListQuery, access: ApiAccess): TaskLogFilter {
  const filter = filterOf(query, access);
  if (query.archived !== 'true' && !namesStatus(query)) filter.neq('status', TaskStatus.Archived);
  const sorts = list(query.sort);
  for (const spec of sorts) {
    const [name, direction = 'asc', ...rest] = spec.split(':');
    const col = column(name, 'sort');
    if ((direction !== 'asc' && direction !== 'desc') || rest.length) throw new ApiError(400, `Sort "${spec}" is not column, column:asc or column:desc`, 'sort');
    filter.sort(col, direction);
  }
  if (sorts.length === 0) filter.sort('createdAt', 'desc').sort('id', 'desc');
  return filter.limit(query.limit).offset(query.offset);
}
