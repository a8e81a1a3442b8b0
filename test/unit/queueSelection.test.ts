import { InMemoryQueueBroker, Queue, StrictPriorityStrategy, WeightedRandomStrategy } from '../../src';

/** mulberry32: a small seeded generator, so frequency checks give the same numbers every run. */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const broker = new InMemoryQueueBroker();
const queues = (weights: Record<string, number>): Queue[] => Object.entries(weights).map(([name, weight]) => new Queue(name, broker, weight));
const names = (order: readonly Queue[]) => order.map((q) => q.name);

/** How often each queue comes first over `draws` orders. */
function firstPickShares(strategy: WeightedRandomStrategy, list: readonly Queue[], draws: number): Record<string, number> {
  const counts: Record<string, number> = Object.fromEntries(list.map((q) => [q.name, 0]));
  for (let i = 0; i < draws; i++) counts[strategy.order(list)[0].name]++;
  return Object.fromEntries(Object.entries(counts).map(([name, n]) => [name, n / draws]));
}

describe('WeightedRandomStrategy', () => {
  test('every order holds every queue exactly once', () => {
    const strategy = new WeightedRandomStrategy(seeded(1));
    const list = queues({ a: 5, b: 1, c: 0, d: 3, e: 0 });
    const sorted = names(list).sort().join(',');
    const bad: string[] = [];
    for (let i = 0; i < 1_000; i++) {
      const order = names(strategy.order(list));
      if (order.length !== list.length || [...order].sort().join(',') !== sorted) bad.push(order.join(','));
    }
    expect(bad).toEqual([]);
  });

  test('does not change the array it is given', () => {
    const list = queues({ a: 1, b: 2, c: 3 });
    const before = [...list];
    new WeightedRandomStrategy(seeded(2)).order(list);
    expect(list).toEqual(before);
  });

  test('weights 1 and 2: the heavier queue comes first about 2/3 of the time', () => {
    const shares = firstPickShares(new WeightedRandomStrategy(seeded(42)), queues({ light: 1, heavy: 2 }), 30_000);
    expect(Math.abs(shares.light - 1 / 3)).toBeLessThanOrEqual(0.02);
    expect(Math.abs(shares.heavy - 2 / 3)).toBeLessThanOrEqual(0.02);
  });

  test('weights 90, 30 and 10 give first picks in those proportions', () => {
    const shares = firstPickShares(new WeightedRandomStrategy(seeded(7)), queues({ priority: 90, standard: 30, low: 10 }), 30_000);
    expect(Math.abs(shares.priority - 90 / 130)).toBeLessThanOrEqual(0.02);
    expect(Math.abs(shares.standard - 30 / 130)).toBeLessThanOrEqual(0.02);
    expect(Math.abs(shares.low - 10 / 130)).toBeLessThanOrEqual(0.02);
  });

  test('the rest of the order is weighted too: after the heaviest, the next heaviest is usually second', () => {
    const strategy = new WeightedRandomStrategy(seeded(3));
    const list = queues({ a: 10, b: 5, c: 1 });
    let aFirstThenB = 0;
    let aFirst = 0;
    for (let i = 0; i < 30_000; i++) {
      const order = names(strategy.order(list));
      if (order[0] !== 'a') continue;
      aFirst++;
      if (order[1] === 'b') aFirstThenB++;
    }
    // With a taken, b has 5 of the 6 remaining weight.
    expect(Math.abs(aFirstThenB / aFirst - 5 / 6)).toBeLessThanOrEqual(0.02);
  });

  test('the random number picks the queue by cumulative weight', () => {
    const list = queues({ a: 1, b: 2, c: 1 });
    // total 4: [0,1) -> a, [1,3) -> b, [3,4) -> c
    expect(names(new WeightedRandomStrategy(() => 0).order(list))[0]).toBe('a');
    expect(names(new WeightedRandomStrategy(() => 0.3).order(list))[0]).toBe('b');
    expect(names(new WeightedRandomStrategy(() => 0.74).order(list))[0]).toBe('b');
    expect(names(new WeightedRandomStrategy(() => 0.76).order(list))[0]).toBe('c');
    expect(names(new WeightedRandomStrategy(() => 0.9999999).order(list))).toHaveLength(3);
  });

  test('zero-weight queues always come after every weighted queue', () => {
    const strategy = new WeightedRandomStrategy(seeded(11));
    const list = queues({ idle1: 0, busy: 1, idle2: 0, heavy: 50 });
    const seen = new Set<string>();
    for (let i = 0; i < 2_000; i++) seen.add(names(strategy.order(list)).join(','));
    // Both weighted orders occur, both zero-weight orders occur, and nothing else.
    expect([...seen].sort()).toEqual(['busy,heavy,idle1,idle2', 'busy,heavy,idle2,idle1', 'heavy,busy,idle1,idle2', 'heavy,busy,idle2,idle1']);
  });

  test('all-zero weights: a uniform order, no crash, no holes', () => {
    const strategy = new WeightedRandomStrategy(seeded(5));
    const list = queues({ a: 0, b: 0, c: 0 });
    const counts: Record<string, number> = { a: 0, b: 0, c: 0 };
    const badOrders: string[][] = [];
    for (let i = 0; i < 30_000; i++) {
      const order = strategy.order(list);
      if (order.length !== 3 || new Set(order).size !== 3 || !order.every((q) => list.includes(q))) badOrders.push(order.map((q) => String(q?.name)));
      else counts[order[0].name]++;
    }
    expect(badOrders).toEqual([]);
    for (const name of ['a', 'b', 'c']) expect(Math.abs(counts[name] / 30_000 - 1 / 3)).toBeLessThanOrEqual(0.02);
  });

  test('a single queue and an empty list', () => {
    const strategy = new WeightedRandomStrategy(seeded(9));
    const only = queues({ only: 3 });
    expect(strategy.order(only)).toEqual(only);
    expect(strategy.order(queues({ zero: 0 }))).toHaveLength(1);
    expect(strategy.order([])).toEqual([]);
  });

  test('uses Math.random by default', () => {
    const order = new WeightedRandomStrategy().order(queues({ a: 1, b: 1 }));
    expect(names(order).sort()).toEqual(['a', 'b']);
  });
});

describe('StrictPriorityStrategy', () => {
  test('orders by weight, heaviest first', () => {
    const list = queues({ low: 1, high: 90, zero: 0, mid: 30 });
    expect(names(new StrictPriorityStrategy().order(list))).toEqual(['high', 'mid', 'low', 'zero']);
  });

  test('keeps the configured order between equal weights, every time', () => {
    const list = queues({ b: 5, a: 5, c: 10, d: 5 });
    const strategy = new StrictPriorityStrategy();
    for (let i = 0; i < 10; i++) expect(names(strategy.order(list))).toEqual(['c', 'b', 'a', 'd']);
  });

  test('does not change the array it is given', () => {
    const list = queues({ a: 1, b: 2 });
    new StrictPriorityStrategy().order(list);
    expect(names(list)).toEqual(['a', 'b']);
  });
});
