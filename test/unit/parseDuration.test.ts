import { ConfigError, parseConfig, parseDuration } from '../../src';

describe('parseDuration', () => {
  test('a whole number and a unit: days, hours, minutes, seconds', () => {
    expect(parseDuration('30d', 'x')).toBe(30 * 86_400_000);
    expect(parseDuration('12h', 'x')).toBe(12 * 3_600_000);
    expect(parseDuration('90m', 'x')).toBe(90 * 60_000);
    expect(parseDuration('45s', 'x')).toBe(45_000);
    expect(parseDuration(' 1d ', 'x')).toBe(86_400_000);
  });

  test.each(['', '30', 'd', '0d', '1.5h', '-1d', '30 d', '30D', '1w', '10000000000s', '30d12h'])('%j is one ConfigError naming the option', (value) => {
    expect(() => parseDuration(value, '--older-than')).toThrow(
      new ConfigError(`--older-than: ${JSON.stringify(value)} is not a duration: give a whole number above 0 and a unit, d, h, m or s (such as 30d, 12h, 90m, 45s)`),
    );
  });
});

describe('parseConfig: prune', () => {
  const queues = [{ name: 'standard', broker: { type: 'memory' } }];

  test('olderThan, an optional cron and statuses are taken', () => {
    expect(parseConfig({ queues, prune: { olderThan: '30d' } }).prune).toEqual({ olderThan: '30d' });
    expect(parseConfig({ queues, prune: { olderThan: '12h', cron: '*/5 * * * *', statuses: ['completed'] } }).prune).toEqual({ olderThan: '12h', cron: '*/5 * * * *', statuses: ['completed'] });
  });

  test('a bad field is one ConfigError naming it', () => {
    expect(() => parseConfig({ queues, prune: { olderThan: '30x' } }, 'taskq.config.json')).toThrow(
      'taskq.config.json: prune.olderThan: "30x" is not a duration: give a whole number above 0 and a unit, d, h, m or s (such as 30d, 12h, 90m, 45s)',
    );
    expect(() => parseConfig({ queues, prune: { olderThan: '30d', cron: 'nightly' } }, 'taskq.config.json')).toThrow(/^taskq\.config\.json: prune\.cron: schedule "taskq-prune": invalid cron expression "nightly"/);
    expect(() => parseConfig({ queues, prune: { olderThan: '30d', statuses: ['running'] } }, 'taskq.config.json')).toThrow(/^taskq\.config\.json: prune\.statuses\[0\]: /);
    expect(() => parseConfig({ queues, prune: {} }, 'taskq.config.json')).toThrow(/^taskq\.config\.json: prune\.olderThan: /);
  });
});
