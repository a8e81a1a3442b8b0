import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { hasZodFastifySchemaValidationErrors } from 'fastify-type-provider-zod';
import { ConfigError, DuplicateTaskIdError, type Logger, TaskNotFoundError, TaskParamsError, TaskStateError, UnknownTaskError } from '../src';
import { ApiError } from './apiError';

interface ErrorBody {
  statusCode: number;
  error: string;
  field?: string;
  issues?: { field: string; message: string }[];
}

/** `/params/to` (a zod issue's path) as `params.to`. */
const fieldOf = (instancePath: string): string => instancePath.split('/').filter(Boolean).join('.');

/**
 * What an error becomes, decided per class on purpose: bad input is a 400 naming the field, a
 * missing task a 404, a status that forbids the operation a 409. Anything else is a 500 whose body
 * says nothing of the server's insides (the error is logged instead).
 */
export function errorBodyOf(error: unknown): ErrorBody {
  if (error instanceof ApiError) return { statusCode: error.statusCode, error: error.message, ...(error.field ? { field: error.field } : {}) };
  if (hasZodFastifySchemaValidationErrors(error)) {
    const [issue] = error.validation;
    // An unknown key is named by the key itself, not by the object it was found in.
    const keys = issue.keyword === 'unrecognized_keys' ? (issue.params as { keys?: string[] }).keys : undefined;
    const field = [fieldOf(issue.instancePath), keys?.[0]].filter(Boolean).join('.') || error.validationContext || 'request';
    return { statusCode: 400, error: `${error.validationContext ?? 'request'}${issue.instancePath === '/' ? '' : `.${field}`}: ${issue.message}`, field };
  }
  if (error instanceof TaskNotFoundError) return { statusCode: 404, error: error.message, field: 'id' };
  if (error instanceof UnknownTaskError) return { statusCode: 404, error: error.message, field: 'name' };
  if (error instanceof TaskParamsError) {
    const issues = error.issues.map((issue) => ({ field: issue.path ? `params.${issue.path}` : 'params', message: issue.message }));
    return { statusCode: 400, error: error.message, field: issues[0]?.field ?? 'params', issues };
  }
  if (error instanceof TaskStateError || error instanceof DuplicateTaskIdError) return { statusCode: 409, error: error.message };
  if (error instanceof ConfigError) {
    // The enqueue's own checks name their option in the message: `enqueue option after …`.
    const option = /^enqueue option (\w+)/.exec(error.message)?.[1] ?? (/^Task "[^"]*" params /.test(error.message) ? 'params' : undefined);
    return { statusCode: 400, error: error.message, ...(option ? { field: option } : {}) };
  }
  const status = (error as FastifyError | null)?.statusCode;
  // Fastify's own refusals (a body that is not JSON, too large, an unsupported media type).
  if (typeof status === 'number' && status >= 400 && status < 500) return { statusCode: status, error: (error as Error).message };
  return { statusCode: 500, error: 'Internal server error (see the server log)' };
}

export function errorHandler(logger: Logger) {
  return (error: unknown, request: FastifyRequest, reply: FastifyReply): void => {
    const body = errorBodyOf(error);
    if (body.statusCode >= 500) logger.error(`API ${request.method} ${request.routeOptions.url ?? request.url.split('?')[0]} failed: ${(error as Error)?.stack ?? String(error)}`);
    void reply.status(body.statusCode).send(body);
  };
}
