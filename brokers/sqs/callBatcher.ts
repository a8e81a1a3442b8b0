import { MAX_BATCH_ENTRIES } from './sqsBatches';

/** What a batch call says of each of its entries: nothing (done) or the error of that entry. */
export type BatchResults = ReadonlyMap<number, Error>;

interface Pending<T> {
  item: T;
  resolve(): void;
  reject(error: Error): void;
}

/**
 * Gathers single calls made within a few milliseconds into batch calls of up to ten (SQS's
 * DeleteMessageBatch): a worker acknowledges its tasks one by one as they end, and ten of them
 * then cost one request instead of ten. Each caller still gets its own entry's outcome. The wait
 * delays only the deletion: the task's result is recorded before its acknowledgement.
 */
export class CallBatcher<T> {
  private pending: Pending<T>[] = [];
  private scheduled = false;

  /** `send` runs one batch (at most ten items) and maps failed entries, by index, to their error. */
  constructor(
    private readonly send: (items: T[]) => Promise<BatchResults>,
    private readonly maxWaitMs = 5,
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
    setTimeout(() => {
      this.scheduled = false;
      this.flush();
    }, this.maxWaitMs);
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
