import { createHash, timingSafeEqual } from 'node:crypto';
import { isIP } from 'node:net';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { ConfigError } from '../src';
import { ApiError } from './apiError';

/** A bearer token the API accepts; with an owner, its caller sees and acts on that owner's tasks only. */
export interface ApiToken {
  token: string;
  owner?: string;
}

/** Who a request acts as: `owner` undefined for a token without owner, or no token at all on loopback. */
export interface ApiAccess {
  owner?: string;
}

/** Only this address family's loopback: anything else is reachable from other machines. */
export function isLoopbackHost(host: string): boolean {
  if (host === 'localhost' || host === '::1') return true;
  return isIP(host) === 4 && host.startsWith('127.');
}

/**
 * Refuses to serve without a token on an address other machines can reach: the API can enqueue,
 * cancel and read every task's params and results.
 */
export function checkBind(host: string, tokens: readonly ApiToken[]): void {
  if (!isLoopbackHost(host) && tokens.length === 0) {
    throw new ConfigError(`Refusing to serve the API on ${host} without a token: give --token, TASKQ_API_TOKEN or api.tokens in the config, or bind 127.0.0.1`);
  }
  tokens.forEach((t, i) => {
    if (typeof t.token !== 'string' || t.token === '') throw new ConfigError(`API token ${i + 1} is empty`);
    // A request sends it as `Authorization: Bearer <token>`: one word, or it could never match.
    if (/\s/.test(t.token)) throw new ConfigError(`API token ${i + 1} contains whitespace: a bearer token is one word (letters, digits and punctuation)`);
  });
}

const digest = (text: string): Buffer => createHash('sha256').update(text, 'utf8').digest();

/**
 * Checks `Authorization: Bearer <token>` against every token, in constant time: digests of equal
 * length compared with timingSafeEqual, and no early exit, so the time says nothing about which
 * token, or how much of one, matched.
 */
export function tokenAuthenticator(tokens: readonly ApiToken[]): (request: FastifyRequest) => ApiAccess {
  const known = tokens.map((t) => ({ digest: digest(t.token), owner: t.owner }));
  return (request) => {
    const header = request.headers.authorization;
    const match = typeof header === 'string' ? /^Bearer[ ]+(\S+)\s*$/i.exec(header) : null;
    if (!match) throw new ApiError(401, 'Missing bearer token: send Authorization: Bearer <token>', 'authorization');
    const given = digest(match[1]);
    let found: ApiAccess | undefined;
    for (const k of known) {
      if (timingSafeEqual(k.digest, given) && !found) found = { owner: k.owner };
    }
    if (!found) throw new ApiError(401, 'Invalid bearer token', 'authorization');
    return found;
  };
}

const accesses = new WeakMap<FastifyRequest, ApiAccess>();

/** What the request may see: set by the onRequest hook of buildServer. */
export function accessOf(request: FastifyRequest): ApiAccess {
  return accesses.get(request) ?? {};
}

/** The onRequest hook: every route but the health check needs a token when tokens are set. */
export function authHook(tokens: readonly ApiToken[], open: readonly string[]): (request: FastifyRequest, reply: FastifyReply) => Promise<void> {
  const authenticate = tokenAuthenticator(tokens);
  return async (request) => {
    if (tokens.length === 0 || open.includes(request.routeOptions.url ?? '')) return;
    accesses.set(request, authenticate(request));
  };
}

/**
 * Queues, workers and metrics span every owner's tasks: a token with an owner may not see or purge
 * them (403); a token without owner, or no token on loopback, may.
 */
export function requireOperator(request: FastifyRequest): void {
  const { owner } = accessOf(request);
  if (owner !== undefined) throw new ApiError(403, `This token is limited to the tasks of owner "${owner}": queues, workers and metrics need a token without owner`, 'authorization');
}
