/** The dashboard's only way to the server: GET and POST on /api with the session's token. */

const TOKEN_KEY = 'taskq.apiToken';

/** The API answered 401: no token, or a wrong one. */
export class Unauthorized extends Error {}

/** Any other error answer, with the API's own sentence and the field at fault. */
export class ApiFailure extends Error {
  /**
   * @param {number} status
   * @param {string} text
   * @param {string | undefined} field
   * @param {{ field: string, message: string }[]} [issues]  params refused by the task's schema, each with its field
   */
  constructor(status, text, field, issues = []) {
    super(text);
    this.status = status;
    this.field = field;
    this.issues = issues;
  }
}

/** The token of this tab's session (sessionStorage: gone when the tab closes). */
export const session = {
  get: () => sessionStorage.getItem(TOKEN_KEY),
  set: (/** @type {string} */ token) => sessionStorage.setItem(TOKEN_KEY, token),
  clear: () => sessionStorage.removeItem(TOKEN_KEY),
};

/** @type {() => void} */
let whenUnauthorized = () => undefined;

/** What to do when any call is refused with 401 (the app shows its login form). */
export function onUnauthorized(/** @type {() => void} */ handler) {
  whenUnauthorized = handler;
}

/**
 * Calls the API: resolves with the JSON answer, rejects with Unauthorized or ApiFailure.
 * @param {string} path  /api/… with its query string
 * @param {{ method?: string, body?: unknown, quiet?: boolean }} [options]  quiet: a 401 does not call the handler
 */
export async function api(path, { method = 'GET', body, quiet = false } = {}) {
  /** @type {Record<string, string>} */
  const headers = { accept: 'application/json' };
  const token = session.get();
  if (token) headers.authorization = `Bearer ${token}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const data = await response.json().catch(() => null);
  if (response.status === 401) {
    if (!quiet) whenUnauthorized();
    throw new Unauthorized(data?.error ?? 'This server needs a token');
  }
  if (!response.ok) throw new ApiFailure(response.status, data?.error ?? `The server answered ${response.status}`, data?.field, Array.isArray(data?.issues) ? data.issues : []);
  return data;
}

/** A path segment from a value (task ids are the caller's choice of text). */
export const segment = (/** @type {string} */ value) => encodeURIComponent(value);

/**
 * Queues and workers need a token without owner: with an owner's token the 403 is the answer
 * (shown as a note), not an error.
 * @param {Promise<any>} call
 */
export async function operatorOnly(call) {
  try {
    return await call;
  } catch (error) {
    if (error instanceof ApiFailure && error.status === 403) return error;
    throw error;
  }
}
