import { retryDeadlocks } from '../../brokers/rds/retryDeadlocks';

describe('retryDeadlocks', () => {
  test('runs a write again while MySQL picks it as a deadlock victim, then returns its result', async () => {
    let calls = 0;
    const result = await retryDeadlocks(async () => {
      if (++calls < 3) throw new Error('Deadlock found when trying to get lock; try restarting transaction');
      return 'written';
    });
    expect({ result, calls }).toEqual({ result: 'written', calls: 3 });
  });

  test('gives up after five tries with the last error, and never retries another error', async () => {
    let calls = 0;
    await expect(retryDeadlocks(async () => {
      calls++;
      throw new Error('Deadlock found when trying to get lock');
    })).rejects.toThrow('Deadlock found');
    expect(calls).toBe(5);
    calls = 0;
    await expect(retryDeadlocks(async () => {
      calls++;
      throw new Error("Duplicate entry 'x' for key 'PRIMARY'");
    })).rejects.toThrow('Duplicate entry');
    expect(calls).toBe(1);
  });
});
