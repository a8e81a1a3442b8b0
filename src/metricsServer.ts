import { type IncomingMessage, type ServerResponse, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { TaskqError } from './errors';
import type { TaskqMetrics } from './metrics';

export interface MetricsServerOptions {
  /** 0 picks a free port (see MetricsServer.port). */
  port: number;
  /** Default 127.0.0.1: the metrics say what runs where, so they are not offered beyond this host unasked. */
  host?: string;
}

export interface MetricsServer {
  /** The port listened on (the one picked, for port 0). */
  readonly port: number;
  /** Where Prometheus scrapes, e.g. http://127.0.0.1:9464/metrics. */
  readonly url: string;
  close(): Promise<void>;
}

/**
 * Serves `metrics` at GET /metrics (404 for any other path) on a plain HTTP server: what a worker
 * process needs to be scraped on its own (`run-worker --metrics-port`). Resolves once listening.
 */
export async function serveMetrics(metrics: TaskqMetrics, options: MetricsServerOptions): Promise<MetricsServer> {
  const host = options.host ?? '127.0.0.1';
  const server = createServer((request, response) => void answer(metrics, request, response));
  await new Promise<void>((resolve, reject) => {
    server.once('error', (error) => reject(new TaskqError(`cannot serve metrics on ${host}:${options.port}: ${error.message}`)));
    server.listen(options.port, host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    port,
    url: `http://${host.includes(':') ? `[${host}]` : host}:${port}/metrics`,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        // A scraper's keep-alive connection must not hold the process up.
        server.closeIdleConnections();
      }),
  };
}

async function answer(metrics: TaskqMetrics, request: IncomingMessage, response: ServerResponse): Promise<void> {
  const path = (request.url ?? '/').split('?')[0];
  if (path !== '/metrics') {
    response.writeHead(404, { 'Content-Type': 'text/plain; charset=utf-8' }).end('Not found: metrics are at /metrics\n');
    return;
  }
  if (request.method !== 'GET' && request.method !== 'HEAD') {
    response.writeHead(405, { Allow: 'GET, HEAD', 'Content-Type': 'text/plain; charset=utf-8' }).end('Method not allowed\n');
    return;
  }
  try {
    const text = await metrics.metrics();
    response.writeHead(200, { 'Content-Type': metrics.contentType });
    response.end(request.method === 'HEAD' ? undefined : text);
  } catch (error) {
    response.writeHead(500, { 'Content-Type': 'text/plain; charset=utf-8' }).end(`Metrics could not be collected: ${(error as Error).message}\n`);
  }
}
