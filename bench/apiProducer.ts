/**
 * The producer process of the api scenario: enqueues no-op tasks at a steady rate (pace) once
 * told to, then reports what it achieved. Its own process, so that SQLite's waits for the write
 * lock, which block the thread that waits, stall neither the server nor the measuring client.
 */
import { BenchNoop, now } from './common';
import { pace } from './pace';
import { sqliteDispatcher } from './sqliteSetup';

async function main(): Promise<void> {
  const [file, rate, warmMs, measureMs] = [process.argv[2], ...process.argv.slice(3).map(Number)];
  const dispatcher = sqliteDispatcher(file, 100);
  await new Promise<void>((resolve) => process.once('message', () => resolve()));
  const result = await pace(rate, warmMs, measureMs, async (warm) => {
    await dispatcher.enqueue(new BenchNoop(warm ? { t: now(), w: 1 } : { t: now() }));
  });
  await dispatcher.close();
  process.send?.({ type: 'produced', ...result }, () => process.disconnect?.());
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
