/** Jest global teardown: stops the server test/setup/sqsServer.mjs started. */
export default async function stopSqsServer() {
  await globalThis.__taskqSqsServer?.stop();
}
