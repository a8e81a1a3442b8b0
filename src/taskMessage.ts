import { MalformedMessageError } from './errors';
import { type JsonValue, isJsonObject } from './json';
import { type Backoff, isBackoff } from './task';

/** The JSON document a broker carries for one task. */
export interface TaskMessage {
  v: 1;
  id: string;
  name: string;
  params: JsonValue;
  label: string;
  owner: string | null;
  createdAt: string;
  parentId: string | null;
  maxAttempts: number;
  timeout: number | null;
  /** Overrides the task class's backoff for this task's retries. */
  backoff?: Backoff;
  /** Result handed to the next task of a chain as ctx.previousResult. */
  previousResult?: JsonValue;
}

export function encodeTaskMessage(message: TaskMessage): string {
  return JSON.stringify(message);
}

/** Parses and checks a message body; anything else is a MalformedMessageError saying what is wrong. */
export function decodeTaskMessage(body: string): TaskMessage {
  let value: unknown;
  try {
    value = JSON.parse(body);
  } catch (error) {
    throw new MalformedMessageError(`Message is not JSON: ${(error as Error).message}`);
  }
  if (!isJsonObject(value)) throw new MalformedMessageError('Message is not a JSON object');
  if (value.v !== 1) throw new MalformedMessageError(`Unsupported message version ${JSON.stringify(value.v ?? null)}`);
  const fail = (field: string, expected: string): never => {
    throw new MalformedMessageError(`Message field "${field}" must be ${expected}`);
  };
  if (typeof value.id !== 'string' || value.id === '' || value.id.length > 64) fail('id', 'a non-empty string of at most 64 characters');
  if (typeof value.name !== 'string' || value.name === '') fail('name', 'a non-empty string');
  if (typeof value.label !== 'string') fail('label', 'a string');
  if (value.owner !== null && typeof value.owner !== 'string') fail('owner', 'a string or null');
  if (typeof value.createdAt !== 'string' || Number.isNaN(Date.parse(value.createdAt))) fail('createdAt', 'an ISO date');
  if (value.parentId !== null && typeof value.parentId !== 'string') fail('parentId', 'a string or null');
  if (!Number.isInteger(value.maxAttempts) || (value.maxAttempts as number) < 1) fail('maxAttempts', 'a positive integer');
  if (value.timeout !== null && !(typeof value.timeout === 'number' && value.timeout > 0)) fail('timeout', 'a positive number or null');
  if (!('params' in value)) fail('params', 'present');
  if (value.backoff !== undefined && !isBackoff(value.backoff)) fail('backoff', 'a delay in ms or { type, delay, maxDelay? }');
  return value as unknown as TaskMessage;
}

/** The task id of a body that may not decode, to keep an undecodable message's log entry findable. */
export function peekTaskId(body: string): string | null {
  const match = /"id"\s*:\s*"([^"\\]{1,64})"/.exec(body);
  return match ? match[1] : null;
}
