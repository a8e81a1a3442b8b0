/**
 * An error the API answers with a status of its choosing and a body that names the field at
 * fault: `{ error, field?, statusCode }`. Anything else a route throws is mapped in errorHandler.ts.
 */
export class ApiError extends Error {
  constructor(
    readonly statusCode: number,
    message: string,
    /** The request field at fault: `filter`, `limit`, `body.params.to`, … */
    readonly field?: string,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

export const notFound = (id: string): ApiError => new ApiError(404, `Task ${id} was not found in the task log`, 'id');
