import { ConfigError, Schedule } from '../../src';

const at = (iso: string) => new Date(iso);
const iso = (dates: Date[]) => dates.map((d) => d.toISOString());

describe('Schedule: ticks', () => {
  test('nextTick is strictly after, lastTick at or before, on whole seconds', () => {
    const s = new Schedule({ name: 'every-second', cron: '* * * * * *', task: 'T' });
    expect(s.nextTick(at('2026-01-01T00:00:00.000Z'))?.toISOString()).toBe('2026-01-01T00:00:01.000Z');
    expect(s.nextTick(at('2026-01-01T00:00:00.500Z'))?.toISOString()).toBe('2026-01-01T00:00:01.000Z');
    expect(s.lastTick(at('2026-01-01T00:00:00.000Z'))?.toISOString()).toBe('2026-01-01T00:00:00.000Z');
    expect(s.lastTick(at('2026-01-01T00:00:00.999Z'))?.toISOString()).toBe('2026-01-01T00:00:00.000Z');
  });

  test('5 fields are minutes, 6 add seconds in front, nicknames work', () => {
    expect(iso(new Schedule({ name: 'a', cron: '*/15 * * * *', task: 'T' }).nextTicks(2, at('2026-01-01T00:07:00Z')))).toEqual(['2026-01-01T00:15:00.000Z', '2026-01-01T00:30:00.000Z']);
    expect(iso(new Schedule({ name: 'b', cron: '30 */15 * * * *', task: 'T' }).nextTicks(1, at('2026-01-01T00:07:00Z')))).toEqual(['2026-01-01T00:15:30.000Z']);
    expect(iso(new Schedule({ name: 'c', cron: '@daily', task: 'T' }).nextTicks(1, at('2026-01-01T10:00:00Z')))).toEqual(['2026-01-02T00:00:00.000Z']);
  });

  test('UTC by default; a time zone moves the ticks with its offset', () => {
    expect(new Schedule({ name: 'a', cron: '0 9 * * *', task: 'T' }).timezone).toBe('UTC');
    const paris = new Schedule({ name: 'b', cron: '0 9 * * *', task: 'T', timezone: 'Europe/Paris' });
    expect(iso(paris.nextTicks(1, at('2026-01-15T00:00:00Z')))).toEqual(['2026-01-15T08:00:00.000Z']);
    expect(iso(paris.nextTicks(1, at('2026-07-15T00:00:00Z')))).toEqual(['2026-07-15T07:00:00.000Z']);
    const ny = new Schedule({ name: 'c', cron: '0 9 * * 1', task: 'T', timezone: 'America/New_York' });
    expect(iso(ny.nextTicks(1, at('2026-11-30T00:00:00Z')))).toEqual(['2026-11-30T14:00:00.000Z']);
  });

  test('DST: a daily time in the skipped hour runs once after the gap, in the repeated hour once (its first); an hourly one on both', () => {
    // Europe/Paris: 2026-03-29 02:00 -> 03:00; 2026-10-25 03:00 -> 02:00.
    const daily = new Schedule({ name: 'a', cron: '30 2 * * *', task: 'T', timezone: 'Europe/Paris' });
    expect(iso(daily.nextTicks(3, at('2026-03-28T00:00:00Z')))).toEqual(['2026-03-28T01:30:00.000Z', '2026-03-29T01:00:00.000Z', '2026-03-30T00:30:00.000Z']);
    expect(iso(daily.nextTicks(2, at('2026-10-24T12:00:00Z')))).toEqual(['2026-10-25T00:30:00.000Z', '2026-10-26T01:30:00.000Z']);
    const hourly = new Schedule({ name: 'b', cron: '30 * * * *', task: 'T', timezone: 'Europe/Paris' });
    expect(iso(hourly.nextTicks(3, at('2026-10-25T00:00:00Z')))).toEqual(['2026-10-25T00:30:00.000Z', '2026-10-25T01:30:00.000Z', '2026-10-25T02:30:00.000Z']);
  });
});

describe('Schedule: task ids', () => {
  test('cron:<name>@<tick in UTC>, and back', () => {
    const s = new Schedule({ name: 'nightly-report', cron: '0 3 * * *', task: 'T', timezone: 'Europe/Paris' });
    const tick = at('2026-11-30T02:00:00Z');
    expect(s.taskIdOf(tick)).toBe('cron:nightly-report@2026-11-30T02:00:00Z');
    expect(s.tickOf(s.taskIdOf(tick))?.getTime()).toBe(tick.getTime());
    expect(s.tickOf('cron:other@2026-11-30T02:00:00Z')).toBeNull();
  });

  test('a long name keeps its start and a hash: at most 64 characters, distinct', () => {
    const a = new Schedule({ name: `a${'x'.repeat(80)}1`, cron: '* * * * *', task: 'T' });
    const b = new Schedule({ name: `a${'x'.repeat(80)}2`, cron: '* * * * *', task: 'T' });
    const id = a.taskIdOf(at('2026-11-30T02:00:00Z'));
    expect(id.length).toBeLessThanOrEqual(64);
    expect(id.startsWith('cron:axxx')).toBe(true);
    expect(id).not.toBe(b.taskIdOf(at('2026-11-30T02:00:00Z')));
    expect(new Schedule({ name: 'x'.repeat(38), cron: '* * * * *', task: 'T' }).taskIdOf(at('2026-11-30T02:00:00Z'))).toHaveLength(64);
  });
});

describe('Schedule: refused definitions', () => {
  const refused = (definition: object) => {
    try {
      new Schedule(definition as never, 'schedules[0]');
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError);
      return (error as Error).message;
    }
    throw new Error('accepted');
  };

  test('a bad expression, a date, an expression that never matches', () => {
    expect(refused({ name: 'n', cron: '61 * * * *', task: 'T' })).toBe('schedules[0].cron: schedule "n": invalid cron expression "61 * * * *": Invalid value for minute: 61');
    expect(refused({ name: 'n', cron: 'every day', task: 'T' })).toMatch(/^schedules\[0\]\.cron: schedule "n": invalid cron expression "every day"/);
    expect(refused({ name: 'n', cron: '2026-01-01T00:00:00', task: 'T' })).toMatch(/a date, not a recurring expression/);
    expect(refused({ name: 'n', cron: '0 0 30 2 *', task: 'T' })).toMatch(/never matches|invalid cron expression/);
  });

  test('an unknown time zone, a bad name, a field it does not know', () => {
    expect(refused({ name: 'n', cron: '* * * * *', task: 'T', timezone: 'Mars/Olympus' })).toBe('schedules[0].timezone: schedule "n": unknown time zone "Mars/Olympus" (an IANA name such as Europe/Paris or America/New_York)');
    expect(refused({ name: '../x', cron: '* * * * *', task: 'T' })).toMatch(/^schedules\[0\]\.name: a schedule name is letters/);
    expect(refused({ name: 'n', cron: '* * * * *', task: 'T', missed: 'skip' })).toMatch(/^schedules\[0\]: Unrecognized key/);
  });
});
