import { TaskqError } from '../errors';
import { TASK_LOG_COLUMNS, type TaskLogColumn } from './taskLogEntry';

export type FilterValue = string | number | Date | null;
export type FilterOperator = 'eq' | 'neq' | 'lt' | 'lte' | 'gt' | 'gte' | 'like' | 'in' | 'notIn';

export interface FilterCondition {
  column: TaskLogColumn;
  operator: FilterOperator;
  value: FilterValue | readonly FilterValue[];
}

export interface FilterSort {
  column: TaskLogColumn;
  direction: 'asc' | 'desc';
}

function checkColumn(column: string): TaskLogColumn {
  if (!(TASK_LOG_COLUMNS as readonly string[]).includes(column)) {
    throw new TaskqError(`Unknown task log column "${column}"; filterable columns: ${TASK_LOG_COLUMNS.join(', ')}`);
  }
  return column as TaskLogColumn;
}

/**
 * Conditions on task log columns, ANDed together, with sort, limit and offset.
 * `like` uses SQL patterns (% and _) and ignores case on every broker.
 */
export class TaskLogFilter {
  readonly conditions: FilterCondition[] = [];
  readonly sorts: FilterSort[] = [];
  limitValue?: number;
  offsetValue?: number;

  private add(column: TaskLogColumn | string, operator: FilterOperator, value: FilterValue | readonly FilterValue[]): this {
    this.conditions.push({ column: checkColumn(column), operator, value });
    return this;
  }

  eq(column: TaskLogColumn, value: FilterValue): this {
    return this.add(column, 'eq', value);
  }
  neq(column: TaskLogColumn, value: FilterValue): this {
    return this.add(column, 'neq', value);
  }
  lt(column: TaskLogColumn, value: FilterValue): this {
    return this.add(column, 'lt', value);
  }
  lte(column: TaskLogColumn, value: FilterValue): this {
    return this.add(column, 'lte', value);
  }
  gt(column: TaskLogColumn, value: FilterValue): this {
    return this.add(column, 'gt', value);
  }
  gte(column: TaskLogColumn, value: FilterValue): this {
    return this.add(column, 'gte', value);
  }
  like(column: TaskLogColumn, pattern: string): this {
    return this.add(column, 'like', pattern);
  }
  in(column: TaskLogColumn, values: readonly FilterValue[]): this {
    return this.add(column, 'in', values);
  }
  notIn(column: TaskLogColumn, values: readonly FilterValue[]): this {
    return this.add(column, 'notIn', values);
  }

  sort(column: TaskLogColumn, direction: 'asc' | 'desc' = 'asc'): this {
    if (direction !== 'asc' && direction !== 'desc') throw new TaskqError(`Sort direction must be asc or desc, got "${String(direction)}"`);
    this.sorts.push({ column: checkColumn(column), direction });
    return this;
  }

  limit(limit: number): this {
    if (!Number.isInteger(limit) || limit < 0) throw new TaskqError(`Filter limit must be an integer >= 0, got ${limit}`);
    this.limitValue = limit;
    return this;
  }

  offset(offset: number): this {
    if (!Number.isInteger(offset) || offset < 0) throw new TaskqError(`Filter offset must be an integer >= 0, got ${offset}`);
    this.offsetValue = offset;
    return this;
  }

  /** The same conditions without sort, limit or offset (for counts). */
  withoutPaging(): TaskLogFilter {
    const copy = new TaskLogFilter();
    copy.conditions.push(...this.conditions);
    return copy;
  }
}

/** A LIKE pattern as a case-insensitive regular expression (for brokers that filter in memory). */
export function likeToRegExp(pattern: string): RegExp {
  const escaped = pattern.replace(/[.*+?^${}()|[\]\\]/g, '\\$&').replace(/%/g, '.*').replace(/_/g, '.');
  return new RegExp(`^${escaped}$`, 'is');
}
