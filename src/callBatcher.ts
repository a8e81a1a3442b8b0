interface Pending<T, R> {
  item: T;
  resolve(result: R): void;
  reject(error: Error): void;
}

/**
 * Gathers single calls made in one turn of the event loop (or within `maxWaitMs`, if set) into
 * batch calls of at most `maxBatch` items: a worker claims, records and acknowledges its tasks
 * one by one, and the ones that come together (a receive batch starting, tasks ending together)
 * cost one request or statement instead of one each. Each caller still gets its own item's
 * outcome: `send` returns, in the items' order, each one's result or Error.
 */
export class CallBatcher<T, R = void> {
  private pending: Pending<T, R>[] = [];
  private scheduled = false;

  constructor(
    private readonly send: (items: T[]) => Promise<ReadonlyArray<R | Error>>,
    private readonly maxBatch: number,
    private readonly maxWaitMs = 0,
  ) {}

  add(item: T): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      this.pending.push({ item, resolve, reject });
      if (this.pending.length >= this.maxBatch) this.flush();
      else this.schedule();
    });
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    const flush = () => {
      this.scheduled = false;
      this.flush();
    };
    // nextTick: after the current job's other calls (its microtasks), before any I/O.
    if (this.maxWaitMs > 0) setTimeout(flush, this.maxWaitMs);
    else process.nextTick(flush);
  }

  private flush(): void {
    const batch = this.pending.splice(0, this.maxBatch);
    if (this.pending.length > 0) this.schedule();
    if (batch.length === 0) return;
    let sent: Promise<ReadonlyArray<R | Error>>;
    try {
      sent = this.send(batch.map((p) => p.item));
    } catch (error) {
      sent = Promise.reject(error as Error);
    }
    sent.then(
      (results) =>
        batch.forEach((p, i) => {
          const result = results[i];
          if (result instanceof Error) p.reject(result);
          else p.resolve(result);
        }),
      (error: Error) => batch.forEach((p) => p.reject(error)),
    );
  }
}
