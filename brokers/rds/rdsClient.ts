import { TaskqError } from '../../src/errors';
import { type RdsConnection, acquireConnection, parseConnection } from './connection';

/** What both RDS brokers hold: their connection string, checked at once, opened on first use. */
export class RdsClient {
  readonly connectionString: string;
  /** The connection string with its password masked. */
  readonly display: string;
  private connection?: RdsConnection;
  private closed = false;

  constructor(connection: string | undefined) {
    this.connectionString = connection ?? 'sqlite:./taskq.db';
    this.display = parseConnection(this.connectionString).display;
  }

  get db(): RdsConnection {
    // A closed broker stays closed: reopening on a late call (a timer that outlived its worker)
    // would leak a handle, and on SQLite re-create a file that was meant to be gone.
    if (this.closed) throw new TaskqError(`The RDS broker on ${this.display} is closed`);
    this.connection ??= acquireConnection(this.connectionString);
    return this.connection;
  }

  async close(): Promise<void> {
    this.closed = true;
    const connection = this.connection;
    this.connection = undefined;
    await connection?.release();
  }
}
