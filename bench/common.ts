/**
 * Shared pieces of the benchmark: the no-op task, the clock, the latency recorder and the
 * percentile maths.
 */
import { AbstractTask } from '../src';

/**
 * Wall-clock milliseconds with sub-millisecond resolution, comparable across processes on one
 * machine (each process's monotonic clock offset by its own time origin).
 */
export function now(): number {
  return performance.timeOrigin + performance.now();
}

/** Collects enqueue→start latencies (ms) into a growable Float64Array. */
export class LatencyRecorder {
  private samples = new Float64Array(1024);
  private size = 0;

  add(ms: number): void {
    if (this.size === this.samples.length) {
      const bigger = new Float64Array(this.samples.length * 2);
      bigger.set(this.samples);
      this.samples = bigger;
    }
    this.samples[this.size++] = ms;
  }

  get count(): number {
    return this.size;
  }

  values(): Float64Array {
    return this.samples.subarray(0, this.size);
  }

  reset(): void {
    this.size = 0;
  }
}

export interface BenchParams {
  /** now() when the task was enqueued (taken just before the enqueue call). */
  t: number;
  /** 1 for a warm-up task: its latency is not recorded. */
  w?: number;
}

/** Where running tasks report their latency; null records nothing. */
let sink: LatencyRecorder | null = null;

export function recordInto(recorder: LatencyRecorder | null): void {
  sink = recorder;
}

/** The no-op task of every scenario: it only notes when it started, and returns undefined. */
export class BenchNoop extends AbstractTask<BenchParams> {
  static override taskName = 'BenchNoop';

  run(): undefined {
    if (sink !== null && this.params.w !== 1) sink.add(now() - this.params.t);
    return undefined;
  }
}

export interface Percentiles {
  p50: number;
  p95: number;
  p99: number;
  max: number;
  samples: number;
}

/** Nearest-rank percentiles of `values` (sorted in place). */
export function percentiles(values: Float64Array): Percentiles | null {
  if (values.length === 0) return null;
  values.sort();
  const at = (p: number) => values[Math.min(values.length - 1, Math.max(0, Math.ceil((p / 100) * values.length) - 1))];
  return { p50: at(50), p95: at(95), p99: at(99), max: values[values.length - 1], samples: values.length };
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** Lets timers and I/O callbacks run (a tight await loop on sync promises never yields to them). */
export function yieldToLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** One row of the results table. */
export interface BenchResult {
  scenario: string;
  /** What was measured, in a few words. */
  case: string;
  /** Tasks measured (warm-up excluded). */
  tasks: number;
  /** Tasks per second: of the measured phase (for a paced run, the rate achieved). */
  tasksPerSec: number;
  /** Enqueue→start latency in ms, where it applies. */
  latency: Percentiles | null;
  /** The target this figure is held against, if any. */
  target?: number;
  /** Settings and side figures. */
  details: Record<string, string | number | boolean>;
}

export interface ScenarioOptions {
  /** Multiplies every task count (0.1 for a quick smoke run). */
  scale: number;
  /** Progress lines, on stderr. */
  progress(message: string): void;
}

export function scaled(n: number, options: ScenarioOptions, min = 100): number {
  return Math.max(min, Math.round(n * options.scale));
}
