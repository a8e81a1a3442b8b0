/** setTimeout's longest wait; a later time is waited for in steps. */
const MAX_TIMEOUT_MS = 2_147_483_647;

/**
 * Calls `onDue` when each of the times it was given comes (epoch ms; times in the same
 * millisecond once). Keeps the `max` earliest: a worker that misses a later one finds its message
 * at a poll. The timer does not keep the process alive.
 */
export class DueTimes {
  private readonly times: number[] = [];
  private timer?: NodeJS.Timeout;

  constructor(
    private readonly onDue: () => void,
    private readonly max = 1_000,
  ) {}

  add(at: number): void {
    let i = this.times.length;
    while (i > 0 && this.times[i - 1] > at) i--;
    if (this.times[i - 1] === at || i >= this.max) return;
    this.times.splice(i, 0, at);
    if (this.times.length > this.max) this.times.pop();
    if (i === 0) this.schedule();
  }

  clear(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.times.length = 0;
  }

  private schedule(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.times.length === 0) return;
    this.timer = setTimeout(() => this.fire(), Math.min(MAX_TIMEOUT_MS, Math.max(0, this.times[0] - Date.now())));
    this.timer.unref();
  }

  private fire(): void {
    const now = Date.now();
    let due = 0;
    while (due < this.times.length && this.times[due] <= now) due++;
    this.times.splice(0, due);
    if (due > 0) this.onDue();
    this.schedule();
  }
}
