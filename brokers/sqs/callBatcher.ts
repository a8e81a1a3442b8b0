import { MAX_BATCH_ENTRIES } from './sqsBatches';

/** What a batch call says of each of its entries: nothing (done) or the error of that entry. */
export type BatchResults = ReadonlyMap<number, Error>;

interface Pending<T> {
  item: T;
  resolve(): void;
  reject(error: Error): void;
}

/**
 * Gathers single calls into batch calls of up to ten (SQS's DeleteMessageBatch): a worker
 * acknowledges its tasks one by one as they end, and the ones that end together (in one turn of
 * the event loop, or within `maxWaitMs` if set) cost one request instead of ten. Each caller
 * still gets its own entry's outcome. A wait delays only the deletion: the task's result is
 * recorded before its acknowledgement. Waiting longer saves requests and costs throughput: a
 * worker's slot stays taken until its acknowledgement is done.
 */
export class CallBatcher<T> {
  private pending: Pending<T>[] = [];
  private scheduled = false;

  /** `send` runs one batch (at most ten items) and maps failed entries, by index, to their error. */
  constructor(
    private readonly send: (items: T[]) => Promise<BatchResults>,
    private readonly maxWaitMs = 0,
  ) {}

  add(item: T): Promise<void> {
    return new Promise((resolve, reject) => {
      this.pending.push({ item, resolve, reject });
      if (this.pending.length >= MAX_BATCH_ENTRIES) this.flush();
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
    if (this.maxWaitMs > 0) setTimeout(flush, this.maxWaitMs);
    else process.nextTick(flush);
  }

  private flush(): void {
    const batch = this.pending.splice(0, MAX_BATCH_ENTRIES);
    if (this.pending.length > 0) this.schedule();
    if (batch.length === 0) return;
    this.send(batch.map((p) => p.item)).then(
      (failed) =>
        batch.forEach((p, i) => {
          const error = failed.get(i);
          if (error) p.reject(error);
          else p.resolve();
        }),
      (error: Error) => batch.forEach((p) => p.reject(error)),
    );
  }
}
