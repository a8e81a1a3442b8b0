/**
 * The server process of the api scenario: `taskq serve` as bench/api.ts runs it, buildServer on
 * the scenario's SQLite file, with a handle of its own. Says its URL over IPC; a `stop` message
 * closes it.
 */
import { buildServer, serverUrl } from '../server';
import { sqliteDispatcher } from './sqliteSetup';

async function main(): Promise<void> {
  const dispatcher = sqliteDispatcher(process.argv[2], 100);
  const app = await buildServer(dispatcher);
  await app.listen({ host: '127.0.0.1', port: 0 });
  process.on('message', (message: { type: string }) => {
    if (message.type !== 'stop') return;
    void app
      .close()
      .then(() => dispatcher.close())
      .then(() => process.disconnect?.());
  });
  process.send?.({ type: 'listening', url: serverUrl(app) });
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
