/** Bytes in the megabyte of `--max-memory` (MiB, as `ps` and `top` count them). */
const MB = 1024 * 1024;

/**
 * Checks the process's resident set size every `everyMs`; the first time it is over `maxMb`,
 * calls `onExceeded` with it (in MB) and checks no more. Returns the stop. The timer does not
 * keep the process alive.
 */
export function watchMemory(maxMb: number, onExceeded: (rssMb: number) => void, everyMs = 1_000): () => void {
  const timer = setInterval(() => {
    const rss = process.memoryUsage.rss();
    if (rss <= maxMb * MB) return;
    clearInterval(timer);
    onExceeded(Math.round(rss / MB));
  }, everyMs);
  timer.unref();
  return () => clearInterval(timer);
}
