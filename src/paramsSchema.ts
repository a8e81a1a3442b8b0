import { TaskParamsError } from './errors';

/** One problem a schema found: where (`to`, `items[2].sku`; empty for the params as a whole) and what. */
export interface ParamsIssue {
  path: string;
  message: string;
}

type SchemaResult = { readonly value: unknown; readonly issues?: undefined } | { readonly issues: ReadonlyArray<{ readonly message: string; readonly path?: ReadonlyArray<PropertyKey | { readonly key: PropertyKey }> }> };

/**
 * A task class's `static params`: any schema that implements Standard Schema v1 (zod 4, valibot,
 * arktype, …), so taskq checks params with the library the application already uses.
 */
export interface ParamsSchema {
  readonly '~standard': {
    readonly version: 1;
    readonly vendor: string;
    readonly validate: (value: unknown) => SchemaResult | Promise<SchemaResult>;
  };
}

export function isParamsSchema(value: unknown): value is ParamsSchema {
  const standard = (value as { '~standard'?: { version?: unknown; validate?: unknown } } | null)?.['~standard'];
  return typeof standard === 'object' && standard !== null && standard.version === 1 && typeof standard.validate === 'function';
}

function pathText(path: ReadonlyArray<PropertyKey | { readonly key: PropertyKey }> | undefined): string {
  let text = '';
  for (const segment of path ?? []) {
    const key = typeof segment === 'object' ? segment.key : segment;
    text += typeof key === 'number' ? `[${key}]` : text ? `.${String(key)}` : String(key);
  }
  return text;
}

/**
 * Checks a task's params against its class's schema before anything is written; throws a
 * TaskParamsError naming every field at fault. Only synchronous schemas: an enqueue does not wait
 * on a schema's I/O.
 */
export function validateParams(taskName: string, schema: ParamsSchema, params: unknown): void {
  const result = schema['~standard'].validate(params);
  if (result instanceof Promise) {
    // Nothing waits on it; keep an async schema's failure from becoming an unhandled rejection.
    result.catch(() => undefined);
    throw new TaskParamsError(taskName, [{ path: '', message: 'the task\'s params schema is asynchronous; taskq checks params synchronously at enqueue (use a schema without async refinements)' }]);
  }
  if (result.issues) throw new TaskParamsError(taskName, result.issues.map((issue) => ({ path: pathText(issue.path), message: issue.message })));
}
