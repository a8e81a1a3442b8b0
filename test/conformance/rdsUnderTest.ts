import { RdsQueueBroker, RdsTaskLogBroker } from '../../src';
import type { BrokerUnderTest } from './queueBrokerConformance';

/** Two queue brokers (two "processes") and a task log on one database; `cleanup` closes them. */
export async function rdsUnderTest(connection: string, tables: { messages?: string; taskLog?: string } = {}, after?: () => void): Promise<BrokerUnderTest> {
  const queueBroker = new RdsQueueBroker({ connection, receive: 5, table: tables.messages });
  const second = new RdsQueueBroker({ connection, receive: 5, table: tables.messages });
  const taskLogBroker = new RdsTaskLogBroker({ connection, table: tables.taskLog });
  await taskLogBroker.createContainer();
  return {
    queueBroker,
    second,
    taskLogBroker,
    async cleanup() {
      await queueBroker.close();
      await second.close();
      await taskLogBroker.close();
      after?.();
    },
  };
}
