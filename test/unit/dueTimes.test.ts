import { DueTimes } from '../../src/dueTimes';

beforeEach(() => jest.useFakeTimers({ now: 1_000_000 }));
afterEach(() => jest.useRealTimers());

test('calls back when each time comes, the earliest first, whatever order they were added in', () => {
  const calls: number[] = [];
  const due = new DueTimes(() => calls.push(Date.now()));
  due.add(1_000_300);
  due.add(1_000_100);
  due.add(1_000_200);
  jest.advanceTimersByTime(99);
  expect(calls).toEqual([]);
  jest.advanceTimersByTime(1);
  expect(calls).toEqual([1_000_100]);
  jest.advanceTimersByTime(200);
  expect(calls).toEqual([1_000_100, 1_000_200, 1_000_300]);
});

test('times in the same millisecond call back once; a past time at once', () => {
  const onDue = jest.fn();
  const times = new DueTimes(onDue);
  times.add(1_000_050);
  times.add(1_000_050);
  jest.advanceTimersByTime(50);
  expect(onDue).toHaveBeenCalledTimes(1);
  times.add(999_000);
  jest.advanceTimersByTime(0);
  expect(onDue).toHaveBeenCalledTimes(2);
});

test('keeps the max earliest times only, and clear() forgets them all', () => {
  const onDue = jest.fn();
  const due = new DueTimes(onDue, 2);
  due.add(1_000_300);
  due.add(1_000_100);
  due.add(1_000_200); // pushes 300 out
  due.add(1_000_400); // later than both kept: dropped
  jest.advanceTimersByTime(500);
  expect(onDue).toHaveBeenCalledTimes(2);
  due.add(1_000_600);
  due.clear();
  jest.advanceTimersByTime(1_000);
  expect(onDue).toHaveBeenCalledTimes(2);
});

test('a time beyond setTimeout’s range is waited for in steps, not fired at once', () => {
  const onDue = jest.fn();
  const due = new DueTimes(onDue);
  const farAway = Date.now() + 30 * 24 * 3600_000; // 30 days: over 2^31 ms
  due.add(farAway);
  jest.advanceTimersByTime(25 * 24 * 3600_000);
  expect(onDue).not.toHaveBeenCalled();
  jest.advanceTimersByTime(5 * 24 * 3600_000);
  expect(onDue).toHaveBeenCalledTimes(1);
});
