import { MalformedMessageError } from './errors';
import { type JsonValue, isJsonObject } from './json';
import { MAX_PREREQUISITES, PREREQUISITE_FAILURE_ACTIONS, type PrerequisiteFailureAction } from './prerequisites';
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
  /**
   * A unique task's revision (enqueue option uniqueKey): 0, one more at each replace. A worker
   * skips a message whose revision is older than its task-log entry's (a replaced message).
   */
  revision?: number;
  /** Ids of the tasks that must end before this one runs (enqueue option `after`). */
  after?: string[];
  /** What a prerequisite that did not complete does to this task; 'cancel' when absent. */
  onPrerequisiteFailure?: PrerequisiteFailureAction;
  /** Runs only if a prerequisite did not complete, else is cancelled (a batch's onFailure task). */
  onlyOnPrerequisiteFailure?: true;
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
  if (!isTaskId(value.id)) fail('id', 'a non-empty string of at most 64 characters');
  if (typeof value.name !== 'string' || value.name === '') fail('name', 'a non-empty string');
  if (typeof value.label !== 'string') fail('label', 'a string');
  if (value.owner !== null && typeof value.owner !== 'string') fail('owner', 'a string or null');
  if (typeof value.createdAt !== 'string' || Number.isNaN(Date.parse(value.createdAt))) fail('createdAt', 'an ISO date');
  if (value.parentId !== null && typeof value.parentId !== 'string') fail('parentId', 'a string or null');
  if (!Number.isInteger(value.maxAttempts) || (value.maxAttempts as number) < 1) fail('maxAttempts', 'a positive integer');
  if (value.timeout !== null && !(typeof value.timeout === 'number' && value.timeout > 0)) fail('timeout', 'a positive number or null');
  if (!('params' in value)) fail('params', 'present');
  if (value.backoff !== undefined && !isBackoff(value.backoff)) fail('backoff', 'a delay in ms or { type, delay, maxDelay? }');
  if (value.revision !== undefined && !(Number.isInteger(value.revision) && (value.revision as number) >= 0)) fail('revision', 'an integer >= 0');
  if (value.after !== undefined && !(Array.isArray(value.after) && value.after.length >= 1 && value.after.length <= MAX_PREREQUISITES && value.after.every(isTaskId))) {
    fail('after', `an array of 1 to ${MAX_PREREQUISITES} task ids`);
  }
  if (value.onPrerequisiteFailure !== undefined && !(PREREQUISITE_FAILURE_ACTIONS as readonly unknown[]).includes(value.onPrerequisiteFailure)) {
    fail('onPrerequisiteFailure', PREREQUISITE_FAILURE_ACTIONS.map((action) => JSON.stringify(action)).join(' or '));
  }
  if (value.onlyOnPrerequisiteFailure !== undefined && value.onlyOnPrerequisiteFailure !== true) fail('onlyOnPrerequisiteFailure', 'true when present');
  return value as unknown as TaskMessage;
}

function isTaskId(value: unknown): boolean {
  return typeof value === 'string' && value !== '' && value.length <= 64;
}

/** The task id of a body that may not decode, to keep an undecodable message's log entry findable. */
export function peekTaskId(body: string): string | null {
  const match = /"id"\s*:\s*"([^"\\]{1,64})"/.exec(body);
  return match ? match[1] : null;
}
