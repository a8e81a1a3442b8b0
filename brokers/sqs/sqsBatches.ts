/** SQS's limits on one SendMessageBatch call. */
export const MAX_BATCH_ENTRIES = 10;

/**
 * Splits items into batches of at most MAX_BATCH_ENTRIES whose sizes add up to at most
 * `maxBytes` (SQS counts a batch's payload like one message's). Order is kept.
 */
export function splitBatches<T>(items: readonly T[], sizeOf: (item: T) => number, maxBytes: number): T[][] {
  const batches: T[][] = [];
  let current: T[] = [];
  let bytes = 0;
  for (const item of items) {
    const size = sizeOf(item);
    if (current.length === MAX_BATCH_ENTRIES || (current.length > 0 && bytes + size > maxBytes)) {
      batches.push(current);
      current = [];
      bytes = 0;
    }
    current.push(item);
    bytes += size;
  }
  if (current.length > 0) batches.push(current);
  return batches;
}

/** Splits items into chunks of at most MAX_BATCH_ENTRIES (for batches without a size limit to mind). */
export function chunks<T>(items: readonly T[]): T[][] {
  return splitBatches(items, () => 0, Infinity);
}
