import { InMemoryTaskLogBroker, LeaseLostError, TaskLog, TaskStatus, silentLogger } from '../../src';
import type { RunContext } from '../../src/runContext';
import { TaskLeaseKeeper } from '../../src/taskLeaseKeeper';
import { until, wait } from '../helpers/wait';

/** What the keeper uses of a run's context: whether it was aborted, and why. */
class FakeRun {
  abortReason: unknown;
  readonly taskName = 'T';
  get aborted(): boolean {
    return this.abortReason !== undefined;
  }
  abort(reason: unknown): void {
    this.abortReason ??= reason;
  }
  asContext(): RunContext {
    return this as unknown as RunContext;
  }
}

const LEASE_MS = 300; // a tick every 100 ms

describe('TaskLeaseKeeper', () => {
  let log: TaskLog;
  let keeper: TaskLeaseKeeper;
  let attempt: number;

  beforeEach(async () => {
    log = new TaskLog(new InMemoryTaskLogBroker());
    await log.add([{ id: 't1', parentId: null, taskName: 'T', label: '', owner: null, queue: 'q', parameters: {}, createdAt: new Date(), status: TaskStatus.Enqueued }]);
    // The log's lease has run out too, as after a blocked event loop.
    const claim = await log.claim('t1', 'w1', 1);
    await wait(5);
    if (claim.outcome !== 'claimed') throw new Error('not claimed');
    attempt = claim.attempt;
    keeper = new TaskLeaseKeeper(log, 'w1', LEASE_MS, silentLogger);
  });

  afterEach(async () => {
    keeper.stop();
    jest.restoreAllMocks();
    await log.close();
  });

  /** The first renewLeases answers only after `ms` (a busy database), or never; the next ones at once. */
  function slowRenewals(ms: number | 'never'): void {
    const renew = log.renewLeases.bind(log);
    let calls = 0;
    jest.spyOn(log, 'renewLeases').mockImplementation(async (...args) => {
      if (calls++ === 0) {
        if (ms === 'never') return new Promise<string[]>(() => {});
        await wait(ms);
      }
      return renew(...args);
    });
  }

  test('a lease that ran out while the event loop was blocked waits for the renewal in flight: kept when no one took the task', async () => {
    slowRenewals(250);
    const run = new FakeRun();
    // Claimed a second ago: the lease ran out before the first renewal is sent.
    const heldAt = performance.now();
    const lease = keeper.hold('t1', attempt, run.asContext(), heldAt - 1_000);
    await wait(550); // the renewal sent at ~100 ms answers at ~350 ms; ticks at 200 and 300 saw it in flight
    expect(run.abortReason).toBeUndefined();
    // Renewed from when that renewal was sent.
    expect(lease.heldUntil).toBeGreaterThan(heldAt + LEASE_MS);
  });

  test('the same renewal saying the task was taken over aborts the run', async () => {
    slowRenewals(250);
    const run = new FakeRun();
    keeper.hold('t1', attempt, run.asContext(), performance.now() - 1_000);
    // Another worker claims it after the first lease lapsed, before the renewal lands.
    await wait(20);
    const other = await log.claim('t1', 'w2', 60_000);
    expect(other.outcome).toBe('claimed');
    await until(() => run.aborted, 2_000);
    expect(run.abortReason).toBeInstanceOf(LeaseLostError);
  });

  test('a renewal that never answers aborts a lapsed lease once a lease has passed since it was sent', async () => {
    slowRenewals('never');
    const run = new FakeRun();
    keeper.hold('t1', attempt, run.asContext(), performance.now() - 1_000);
    await wait(250);
    expect(run.aborted).toBe(false);
    await until(() => run.aborted, 2_000);
    expect(run.abortReason).toBeInstanceOf(LeaseLostError);
  });

  test('a lease still valid when the renewal was sent is aborted when it runs out with the renewal unanswered', async () => {
    slowRenewals('never');
    const run = new FakeRun();
    const heldAt = performance.now();
    keeper.hold('t1', attempt, run.asContext(), heldAt);
    await until(() => run.aborted, 2_000);
    // Not before the lease ran out; well before one lease after the renewal was sent (~400 ms).
    const abortedAt = performance.now() - heldAt;
    expect(abortedAt).toBeGreaterThanOrEqual(LEASE_MS);
    expect(run.abortReason).toBeInstanceOf(LeaseLostError);
  });
});
