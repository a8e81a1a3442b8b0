import { Report, type ReportData } from '../../src';

describe('Report factories', () => {
  test.each([
    ['success', Report.success],
    ['error', Report.error],
    ['info', Report.info],
    ['warning', Report.warning],
  ] as const)('Report.%s sets the type, message and data', (type, factory) => {
    const report = factory('the message', { n: 1 });
    expect(report).toBeInstanceOf(Report);
    expect(report.type).toBe(type);
    expect(report.message).toBe('the message');
    expect(report.data).toEqual({ n: 1 });
    expect(report.children).toEqual([]);
  });

  test('data is optional and left out of the JSON when absent', () => {
    const json = Report.info('no data').toJSON();
    expect(json).toEqual({ type: 'info', message: 'no data', children: [] });
    expect('data' in json).toBe(false);
  });

  test('falsy data (null, 0, false, "") is kept', () => {
    expect(Report.success('m', null).toJSON()).toHaveProperty('data', null);
    expect(Report.success('m', 0).toJSON()).toHaveProperty('data', 0);
    expect(Report.success('m', false).toJSON()).toHaveProperty('data', false);
    expect(Report.success('m', '').toJSON()).toHaveProperty('data', '');
  });
});

describe('children and containsError', () => {
  test('add appends children in order and returns the parent for chaining', () => {
    const parent = Report.info('parent');
    const a = Report.success('a');
    const b = Report.warning('b');
    expect(parent.add(a).add(b)).toBe(parent);
    expect(parent.children).toEqual([a, b]);
  });

  test('containsError is false without any error anywhere', () => {
    const report = Report.info('root').add(Report.success('a').add(Report.warning('a.1'))).add(Report.info('b'));
    expect(report.containsError()).toBe(false);
  });

  test('containsError is true for an error report itself', () => {
    expect(Report.error('bad').containsError()).toBe(true);
  });

  test('containsError finds an error nested two levels down', () => {
    const deep = Report.error('deep failure');
    const report = Report.success('root').add(Report.info('a')).add(Report.info('b').add(deep));
    expect(report.containsError()).toBe(true);
  });
});

describe('toJSON / fromJSON', () => {
  const tree = (): Report =>
    Report.info('root', { total: 3, tags: ['x', 'y'] })
      .add(Report.success('first', { id: 'a' }))
      .add(Report.warning('second').add(Report.error('nested', { code: 42, nested: { ok: false } })));

  test('toJSON gives the nested plain form', () => {
    expect(tree().toJSON()).toEqual({
      type: 'info',
      message: 'root',
      data: { total: 3, tags: ['x', 'y'] },
      children: [
        { type: 'success', message: 'first', data: { id: 'a' }, children: [] },
        {
          type: 'warning',
          message: 'second',
          children: [{ type: 'error', message: 'nested', data: { code: 42, nested: { ok: false } }, children: [] }],
        },
      ],
    });
  });

  test('round trip through JSON text keeps every field and the nesting', () => {
    const original = tree();
    const restored = Report.fromJSON(JSON.parse(JSON.stringify(original)));
    expect(restored).toBeInstanceOf(Report);
    expect(restored.toJSON()).toEqual(original.toJSON());
    expect(restored.children[1].children[0]).toBeInstanceOf(Report);
    expect(restored.containsError()).toBe(true);
  });

  test('fromJSON accepts a report without children', () => {
    const report = Report.fromJSON({ type: 'success', message: 'ok' });
    expect(report.children).toEqual([]);
    expect(report.toJSON()).toEqual({ type: 'success', message: 'ok', children: [] });
  });

  test.each<[string, unknown]>([
    ['null', null],
    ['undefined', undefined],
    ['a string', 'success'],
    ['a number', 42],
    ['an array', [{ type: 'info', message: 'x', children: [] }]],
    ['an empty object', {}],
    ['an unknown type', { type: 'fatal', message: 'x', children: [] }],
    ['a missing message', { type: 'info', children: [] }],
    ['a non-string message', { type: 'info', message: 7, children: [] }],
    ['a garbage child', { type: 'info', message: 'x', children: [{ type: 'info' }] }],
    ['a garbage grandchild', { type: 'info', message: 'x', children: [{ type: 'info', message: 'y', children: ['nope'] }] }],
  ])('fromJSON rejects %s', (_what, value) => {
    expect(() => Report.fromJSON(value)).toThrow(TypeError);
    expect(() => Report.fromJSON(value)).toThrow('Not a report');
  });

  test('isReportData tells reports from other values', () => {
    expect(Report.isReportData({ type: 'warning', message: 'w', children: [] } satisfies ReportData)).toBe(true);
    expect(Report.isReportData({ type: 'warning' })).toBe(false);
    expect(Report.isReportData({ type: 'nope', message: 'w' })).toBe(false);
    expect(Report.isReportData(null)).toBe(false);
    expect(Report.isReportData('report')).toBe(false);
  });
});

describe('fromError', () => {
  test('keeps the message, the error class name and the stack', () => {
    const error = new RangeError('value out of range');
    const report = Report.fromError(error);
    expect(report.type).toBe('error');
    expect(report.message).toBe('value out of range');
    expect(report.data).toEqual({ error: 'RangeError', stack: error.stack });
    expect(String((report.data as { stack: string }).stack)).toContain('value out of range');
    expect(String((report.data as { stack: string }).stack)).toContain('report.test.ts');
  });

  test('the stack survives a JSON round trip', () => {
    const error = new Error('boom');
    const restored = Report.fromJSON(JSON.parse(JSON.stringify(Report.fromError(error))));
    expect(restored.message).toBe('boom');
    expect((restored.data as { stack: string }).stack).toBe(error.stack);
  });

  test('an error without a message is reported by its name', () => {
    class QuietError extends Error {
      override name = 'QuietError';
    }
    expect(Report.fromError(new QuietError()).message).toBe('QuietError');
  });

  test('extra data is merged beside error and stack', () => {
    const report = Report.fromError(new Error('x'), { taskId: 't1', attempt: 2 });
    expect(report.data).toMatchObject({ error: 'Error', taskId: 't1', attempt: 2 });
    expect(report.data).toHaveProperty('stack');
  });

  test('a thrown non-Error becomes an error report with its text', () => {
    expect(Report.fromError('plain string failure').toJSON()).toEqual({ type: 'error', message: 'plain string failure', children: [] });
    expect(Report.fromError(404, { where: 'http' }).toJSON()).toEqual({ type: 'error', message: '404', data: { where: 'http' }, children: [] });
  });
});

describe('freeze', () => {
  test('a frozen report keeps its JSON and refuses new children', () => {
    const report = Report.success('done', { n: 1 }).add(Report.info('child'));
    const frozen = report.freeze();
    expect(frozen.toJSON()).toEqual({ type: 'success', message: 'done', data: { n: 1 }, children: [{ type: 'info', message: 'child', children: [] }] });
    expect(Object.isFrozen(frozen.toJSON())).toBe(true);
    expect(Object.isFrozen(frozen.toJSON().children)).toBe(true);
    expect(() => (frozen as Report).add(Report.info('late'))).toThrow(TypeError);
    expect(frozen.children).toHaveLength(1);
  });
});
