import { MalformedMessageError } from '../../src';
import { type TaskMessage, decodeTaskMessage, encodeTaskMessage, peekTaskId } from '../../src/taskMessage';

const valid = (): TaskMessage => ({
  v: 1,
  id: '5b0d7c7e-6d3c-4bd0-9a67-9b6b4f1a2c11',
  name: 'SendEmail',
  params: { to: 'a@b.c', tags: ['x'], nested: { n: 1, ok: true, none: null } },
  label: 'Welcome mail',
  owner: 'alice',
  createdAt: '2024-05-01T10:00:00.000Z',
  parentId: null,
  maxAttempts: 3,
  timeout: 5_000,
});

/** A valid message with `changes` applied; a value of `undefined` removes the field. */
function bodyWith(changes: Record<string, unknown>): string {
  const message: Record<string, unknown> = { ...valid() };
  for (const [key, value] of Object.entries(changes)) {
    if (value === undefined) delete message[key];
    else message[key] = value;
  }
  return JSON.stringify(message);
}

describe('encodeTaskMessage / decodeTaskMessage', () => {
  test('round trip keeps every field', () => {
    const message = valid();
    const body = encodeTaskMessage(message);
    expect(typeof body).toBe('string');
    expect(decodeTaskMessage(body)).toEqual(message);
  });

  test('round trip keeps nullable fields and previousResult', () => {
    const message: TaskMessage = { ...valid(), owner: null, parentId: 'parent-1', timeout: null, params: null, previousResult: { from: 'step 1' } };
    expect(decodeTaskMessage(encodeTaskMessage(message))).toEqual(message);
  });

  test('params may be any JSON value', () => {
    for (const params of [null, 0, 'text', [1, 2], { a: { b: [] } }]) {
      expect(decodeTaskMessage(bodyWith({ params })).params).toEqual(params);
    }
  });
});

describe('decodeTaskMessage rejects', () => {
  const rejects = (body: string, message: string | RegExp) => {
    expect(() => decodeTaskMessage(body)).toThrow(MalformedMessageError);
    expect(() => decodeTaskMessage(body)).toThrow(message);
  };

  test('a body that is not JSON', () => {
    rejects('{"v":1,"id":', /^Message is not JSON: /);
    rejects('', /^Message is not JSON/);
    rejects('hello', /^Message is not JSON/);
  });

  test.each<[string, string]>([
    ['null', 'null'],
    ['an array', '[1,2]'],
    ['a string', '"message"'],
    ['a number', '42'],
  ])('JSON that is not an object (%s)', (_what, body) => {
    rejects(body, 'Message is not a JSON object');
  });

  test.each<[string, unknown, string]>([
    ['missing', undefined, 'Unsupported message version null'],
    ['2', 2, 'Unsupported message version 2'],
    ['"1"', '1', 'Unsupported message version "1"'],
  ])('a wrong version (%s)', (_what, v, message) => {
    rejects(bodyWith({ v }), message);
  });

  test.each<[string, unknown]>([
    ['id', undefined],
    ['id', ''],
    ['id', 42],
    ['id', 'x'.repeat(65)],
    ['name', undefined],
    ['name', ''],
    ['name', ['SendEmail']],
    ['label', undefined],
    ['label', null],
    ['owner', undefined],
    ['owner', 7],
    ['createdAt', undefined],
    ['createdAt', 'yesterday'],
    ['createdAt', 1714557600000],
    ['parentId', undefined],
    ['parentId', { id: 'p' }],
    ['maxAttempts', undefined],
    ['maxAttempts', 0],
    ['maxAttempts', 1.5],
    ['maxAttempts', '3'],
    ['timeout', undefined],
    ['timeout', 0],
    ['timeout', -5],
    ['timeout', '100'],
    ['params', undefined],
  ])('a bad "%s" field (%j), naming the field', (field, value) => {
    const body = bodyWith({ [field]: value });
    expect(() => decodeTaskMessage(body)).toThrow(MalformedMessageError);
    expect(() => decodeTaskMessage(body)).toThrow(new RegExp(`^Message field "${field}" must be `));
  });

  test('an id of exactly 64 characters is still accepted', () => {
    expect(decodeTaskMessage(bodyWith({ id: 'x'.repeat(64) })).id).toBe('x'.repeat(64));
  });

  test('a message with several bad fields names the first one only (one clear error)', () => {
    let caught: unknown;
    try {
      decodeTaskMessage(bodyWith({ name: '', maxAttempts: 0 }));
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(MalformedMessageError);
    expect((caught as Error).message).toBe('Message field "name" must be a non-empty string');
    expect((caught as Error).name).toBe('MalformedMessageError');
  });
});

describe('peekTaskId', () => {
  test('finds the id of a valid message', () => {
    expect(peekTaskId(encodeTaskMessage(valid()))).toBe(valid().id);
  });

  test('finds the id of a body that is not valid JSON', () => {
    expect(peekTaskId('{"v":1,"id":"abc-123","name":')).toBe('abc-123');
    expect(peekTaskId('{ "id" : "spaced" ')).toBe('spaced');
  });

  test('finds the id of a message that decodes but is malformed', () => {
    const body = bodyWith({ v: 9, id: 'still-findable' });
    expect(() => decodeTaskMessage(body)).toThrow(MalformedMessageError);
    expect(peekTaskId(body)).toBe('still-findable');
  });

  test('is not fooled by parentId', () => {
    expect(peekTaskId('{"parentId":"the-parent"}')).toBeNull();
    expect(peekTaskId('{"parentId":"the-parent","id":"the-task"}')).toBe('the-task');
  });

  test('returns null when there is no usable id', () => {
    expect(peekTaskId('')).toBeNull();
    expect(peekTaskId('not json at all')).toBeNull();
    expect(peekTaskId('{"id":42}')).toBeNull();
    expect(peekTaskId('{"id":""}')).toBeNull();
    expect(peekTaskId(`{"id":"${'x'.repeat(65)}"}`)).toBeNull();
    expect(peekTaskId('{"id":"with\\"quote"}')).toBeNull();
  });
});

describe('decodeTaskMessage: prerequisites', () => {
  test('keeps after, onPrerequisiteFailure and onlyOnPrerequisiteFailure', () => {
    const message: TaskMessage = { ...valid(), after: ['a', 'b'], onPrerequisiteFailure: 'run', onlyOnPrerequisiteFailure: true };
    expect(decodeTaskMessage(encodeTaskMessage(message))).toEqual(message);
  });

  test.each<[string, Record<string, unknown>, string]>([
    ['an empty after', { after: [] }, 'Message field "after" must be an array of 1 to 100 task ids'],
    ['after with a non-string id', { after: ['a', 7] }, 'Message field "after" must be an array of 1 to 100 task ids'],
    ['after with too long an id', { after: ['x'.repeat(65)] }, 'Message field "after" must be an array of 1 to 100 task ids'],
    ['after of 101 ids', { after: Array.from({ length: 101 }, (_, i) => `t${i}`) }, 'Message field "after" must be an array of 1 to 100 task ids'],
    ['after as a string', { after: 'a' }, 'Message field "after" must be an array of 1 to 100 task ids'],
    ['an unknown onPrerequisiteFailure', { after: ['a'], onPrerequisiteFailure: 'retry' }, 'Message field "onPrerequisiteFailure" must be "cancel" or "fail" or "run"'],
    ['onlyOnPrerequisiteFailure false', { after: ['a'], onlyOnPrerequisiteFailure: false }, 'Message field "onlyOnPrerequisiteFailure" must be true when present'],
  ])('rejects %s', (_what, changes, message) => {
    expect(() => decodeTaskMessage(bodyWith(changes))).toThrow(new MalformedMessageError(message));
  });
});
