import type { BrokerDescription, OutgoingMessage, QueueBroker, ReceivedMessage } from '../../src/queueBroker';
import { type RdsConnection, acquireConnection, checkTableName, parseConnection } from './connection';
import { createMessagesTable } from './schema';
import { claimMessages } from './sql/claimMessages';

export interface RdsQueueBrokerOptions {
  /** `sqlite:PATH` (default `sqlite:./taskq.db`), `postgres://…`, `mysql://…`. */
  connection?: string;
  /** Messages a worker receives at a time. */
  receive?: number;
  /** The messages table (shared by every queue). */
  table?: string;
}

/** Rows per INSERT: keeps far below SQLite's 32,766 bound parameters. */
const INSERT_CHUNK = 500;

/** Receipts are `id:receiveCount`: a stale delivery cannot ack, extend or release a newer one. */
function parseReceipt(receipt: string): [string, number] {
  const at = receipt.lastIndexOf(':');
  return [receipt.slice(0, at), Number(receipt.slice(at + 1))];
}

/** Queues in an SQL table through knex: SQLite embedded by default, PostgreSQL, MySQL. */
export class RdsQueueBroker implements QueueBroker {
  readonly type = 'rds';
  readonly isSync = false;
  readonly receiveBatchSize: number;
  readonly connectionString: string;
  readonly table: string;
  /** The connection string with its password masked. */
  private readonly display: string;
  private connection?: RdsConnection;

  constructor(options: RdsQueueBrokerOptions = {}) {
    this.connectionString = options.connection ?? 'sqlite:./taskq.db';
    this.display = parseConnection(this.connectionString).display;
    this.receiveBatchSize = options.receive ?? 5;
    this.table = checkTableName('table', options.table ?? 'taskq_messages');
  }

  private get db(): RdsConnection {
    this.connection ??= acquireConnection(this.connectionString);
    return this.connection;
  }

  async createContainer(_queue: string): Promise<void> {
    await createMessagesTable(this.db.knex, this.table);
  }

  async dropContainer(queue: string): Promise<void> {
    if (await this.db.knex.schema.hasTable(this.table)) await this.purge(queue);
  }

  async push(queue: string, message: OutgoingMessage): Promise<void> {
    await this.pushMany(queue, [message]);
  }

  async pushMany(queue: string, messages: readonly OutgoingMessage[]): Promise<void> {
    if (messages.length === 0) return;
    const now = Date.now();
    const rows = messages.map((m) => ({ queue, task_id: m.taskId, body: m.body, visible_at: m.runAt ?? now, receive_count: 0, created_at: now }));
    const { knex } = this.db;
    if (rows.length <= INSERT_CHUNK) {
      await knex(this.table).insert(rows);
      return;
    }
    await knex.transaction(async (trx) => {
      for (let i = 0; i < rows.length; i += INSERT_CHUNK) await trx(this.table).insert(rows.slice(i, i + INSERT_CHUNK));
    });
  }

  async receive(queue: string, max: number, leaseMs: number): Promise<ReceivedMessage[]> {
    if (max <= 0) return [];
    const now = Date.now();
    const rows = await claimMessages(this.db.knex, this.db.dialect, this.table, queue, max, now, now + leaseMs);
    return rows.map((row) => ({
      id: String(row.id),
      taskId: row.task_id,
      body: row.body,
      receiveCount: Number(row.receive_count),
      receipt: `${row.id}:${row.receive_count}`,
    }));
  }

  async acknowledge(queue: string, message: ReceivedMessage): Promise<void> {
    const [id, count] = parseReceipt(message.receipt);
    await this.db.knex(this.table).where({ id, queue, receive_count: count }).delete();
  }

  async extendLease(queue: string, messages: readonly ReceivedMessage[], leaseMs: number): Promise<void> {
    if (messages.length === 0) return;
    const until = Date.now() + leaseMs;
    const receipts = messages.map((m) => parseReceipt(m.receipt));
    for (let i = 0; i < receipts.length; i += 200) {
      const chunk = receipts.slice(i, i + 200);
      await this.db
        .knex(this.table)
        .where('queue', queue)
        .andWhere((q) => {
          for (const [id, count] of chunk) q.orWhere((w) => w.where('id', id).andWhere('receive_count', count));
        })
        .update({ visible_at: until, reserved_until: until });
    }
  }

  async release(queue: string, message: ReceivedMessage, delayMs: number): Promise<void> {
    const [id, count] = parseReceipt(message.receipt);
    await this.db.knex(this.table).where({ id, queue, receive_count: count }).update({ visible_at: Date.now() + Math.max(0, delayMs), reserved_until: null });
  }

  async count(queue: string): Promise<number> {
    const row = await this.db.knex(this.table).where('queue', queue).count<{ n: number | string }[]>({ n: '*' }).first();
    return Number(row?.n ?? 0);
  }

  async purge(queue: string): Promise<number> {
    return this.db.knex(this.table).where('queue', queue).delete();
  }

  describe(): BrokerDescription {
    return { type: this.type, connection: this.display, receive: this.receiveBatchSize, table: this.table };
  }

  async close(): Promise<void> {
    const connection = this.connection;
    this.connection = undefined;
    await connection?.release();
  }
}
