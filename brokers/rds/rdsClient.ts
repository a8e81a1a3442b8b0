import { type RdsConnection, acquireConnection, parseConnection } from './connection';

/** What both RDS brokers hold: their connection string, checked at once, opened on first use. */
export class RdsClient {
  readonly connectionString: string;
  /** The connection string with its password masked. */
  readonly display: string;
  private connection?: RdsConnection;

  constructor(connection: string | undefined) {
    this.connectionString = connection ?? 'sqlite:./taskq.db';
    this.display = parseConnection(this.connectionString).display;
  }

  get db(): RdsConnection {
    this.connection ??= acquireConnection(this.connectionString);
    return this.connection;
  }

  async close(): Promise<void> {
    const connection = this.connection;
    this.connection = undefined;
    await connection?.release();
  }
}
