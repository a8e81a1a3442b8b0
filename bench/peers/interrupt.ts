/**
 * Runs `run`, then `cleanup` (drop the throwaway database, stop a server of the bench's own),
 * whether `run` succeeds or fails, and on SIGINT/SIGTERM too: then `cleanup` runs and the process
 * exits with 130 (forced drops end the worker processes' connections; they exit when this process
 * does).
 */
export async function withCleanup<T>(what: string, cleanup: () => Promise<void>, run: () => Promise<T>): Promise<T> {
  const interrupted = (signal: NodeJS.Signals) => {
    console.error(`${signal}: cleaning up ${what}`);
    cleanup().then(
      () => process.exit(130),
      (error: unknown) => {
        console.error(`could not clean up ${what}: ${(error as Error).message}`);
        process.exit(130);
      },
    );
  };
  process.once('SIGINT', interrupted);
  process.once('SIGTERM', interrupted);
  try {
    return await run();
  } finally {
    process.off('SIGINT', interrupted);
    process.off('SIGTERM', interrupted);
    await cleanup();
  }
}
