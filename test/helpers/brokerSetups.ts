import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InMemoryQueueBroker, InMemoryTaskLogBroker, RdsQueueBroker, RdsTaskLogBroker, type QueueBroker, type TaskLogBroker } from '../../src';
import { useMysqlDatabase } from './mysql';
import { usePostgresDatabase } from './postgres';

export interface BrokerSetup {
  queueBroker: QueueBroker;
  /** Another client of the same storage (another "process"); the same broker for memory. */
  secondQueueBroker: QueueBroker;
  taskLogBroker: TaskLogBroker;
  /** True where leases and visibility are on a database's clock, not this process's. */
  sql: boolean;
  cleanup(): Promise<void>;
}

export type BrokerSetupFactory = () => BrokerSetup;

let tables = 0;

function rds(connection: string, cleanup: () => void = () => undefined): BrokerSetup {
  const suffix = `${process.pid}_${++tables}`;
  const table = `messages_${suffix}`;
  const queueBroker = new RdsQueueBroker({ connection, receive: 5, table });
  const secondQueueBroker = new RdsQueueBroker({ connection, receive: 5, table });
  const taskLogBroker = new RdsTaskLogBroker({ connection, table: `task_log_${suffix}` });
  return {
    queueBroker,
    secondQueueBroker,
    taskLogBroker,
    sql: true,
    async cleanup() {
      await queueBroker.close();
      await secondQueueBroker.close();
      await taskLogBroker.close();
      cleanup();
    },
  };
}

/**
 * The setups a delivery test runs on: memory, SQLite, PostgreSQL (when TASKQ_TEST_PG_URL is set)
 * and MySQL (TASKQ_TEST_MYSQL_URL); call at the top level of a test file, it creates the file's
 * databases.
 */
export function deliverySetups(): [string, BrokerSetupFactory][] {
  const setups: [string, BrokerSetupFactory][] = [
    [
      'memory',
      () => {
        const queueBroker = new InMemoryQueueBroker({ sync: false, receive: 5 });
        return { queueBroker, secondQueueBroker: queueBroker, taskLogBroker: new InMemoryTaskLogBroker(), sql: false, cleanup: async () => undefined };
      },
    ],
    [
      'sqlite',
      () => {
        const dir = mkdtempSync(join(tmpdir(), 'taskq-delivery-'));
        return rds(`sqlite:${join(dir, 'q.db')}`, () => rmSync(dir, { recursive: true, force: true }));
      },
    ],
  ];
  const pg = usePostgresDatabase('delivery');
  if (pg) setups.push(['postgres', () => rds(pg)]);
  const mysql = useMysqlDatabase('delivery');
  if (mysql) setups.push(['mysql', () => rds(mysql)]);
  return setups;
}
