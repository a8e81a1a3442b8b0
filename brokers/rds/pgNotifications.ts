import type { Client, Notification } from 'pg';

export interface NotificationListener {
  onNotification(payload: string): void;
  onError(message: string): void;
}

/** Reconnection waits: doubling from the first to the last. */
const RETRY_FIRST_MS = 100;
const RETRY_MAX_MS = 5_000;

/**
 * One LISTEN connection of its own (not from the pool: a pooled connection goes back and stops
 * listening) for one channel, shared by every subscriber in the process. It reconnects with
 * back-off when the connection drops; since notifications sent meanwhile are lost, every
 * subscriber gets an empty payload on reconnection ("look again"). Behind a pooler in
 * transaction mode (PgBouncer) notifications never arrive: the workers' poll still finds the work.
 */
export class PgNotifications {
  private readonly listeners = new Set<NotificationListener>();
  /** The connection that listens, once it does. */
  private client?: Client;
  /** The latest connection made: events of older ones are ignored. */
  private attempt?: Client;
  private connecting?: Promise<void>;
  private retryMs = RETRY_FIRST_MS;
  private retryTimer?: NodeJS.Timeout;
  private closed = false;

  constructor(
    private readonly connectionString: string,
    private readonly channel: string,
  ) {}

  /** Subscribes; resolves once the connection listens (or has failed once and retries on). */
  async subscribe(listener: NotificationListener): Promise<() => Promise<void>> {
    this.listeners.add(listener);
    this.connecting ??= this.connect();
    await this.connecting;
    return async () => {
      this.listeners.delete(listener);
      if (this.listeners.size === 0) await this.close();
    };
  }

  get listening(): boolean {
    return this.client !== undefined;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  private async connect(): Promise<void> {
    const { Client: PgClient } = require('pg') as typeof import('pg');
    const client = new PgClient({ connectionString: this.connectionString });
    this.attempt = client;
    // An 'error' without a listener would crash the process: a dropped connection is expected.
    client.on('error', (error) => this.lost(client, error));
    client.on('end', () => this.lost(client));
    client.on('notification', (n: Notification) => {
      for (const listener of this.listeners) listener.onNotification(n.payload ?? '');
    });
    try {
      await client.connect();
      await client.query(`LISTEN "${this.channel}"`);
    } catch (error) {
      this.lost(client, error as Error);
      return;
    }
    if (this.closed) {
      await client.end().catch(() => undefined);
      return;
    }
    const reconnected = this.retryMs > RETRY_FIRST_MS;
    this.client = client;
    this.retryMs = RETRY_FIRST_MS;
    // What was sent while no connection listened is lost: everyone looks again.
    if (reconnected) for (const listener of this.listeners) listener.onNotification('');
  }

  /** The connection failed or dropped: retry later, unless closed or already retrying. */
  private lost(client: Client, error?: Error): void {
    if (client !== this.attempt) return;
    this.attempt = undefined;
    this.client = undefined;
    client.removeAllListeners('notification');
    client.end().catch(() => undefined);
    if (this.closed || this.retryTimer) return;
    const message = `LISTEN connection on channel ${this.channel} ${error ? `failed: ${error.message}` : 'ended'}; reconnecting in ${this.retryMs} ms (workers poll meanwhile)`;
    for (const listener of this.listeners) listener.onError(message);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      this.connecting = this.connect();
    }, this.retryMs);
    this.retryTimer.unref();
    this.retryMs = Math.min(RETRY_MAX_MS, this.retryMs * 2);
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    await this.connecting?.catch(() => undefined);
    const client = this.attempt;
    this.attempt = undefined;
    this.client = undefined;
    if (client) {
      client.removeAllListeners('notification');
      await client.end().catch(() => undefined);
    }
  }
}
