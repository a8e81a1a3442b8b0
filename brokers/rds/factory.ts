import type { BrokerConfig, BrokerFactory } from '../../src/brokerFactory';
import { RdsQueueBroker } from './rdsQueueBroker';
import { RdsTaskLogBroker } from './rdsTaskLogBroker';

export const factory: BrokerFactory = {
  queueBroker: (config: BrokerConfig) =>
    new RdsQueueBroker({
      connection: config.connection as string | undefined,
      receive: config.receive as number | undefined,
      table: config.table as string | undefined,
      notify: config.notify as boolean | undefined,
    }),
  taskLogBroker: (config: BrokerConfig) => new RdsTaskLogBroker({ connection: config.connection as string | undefined, table: config.table as string | undefined, notify: config.notify as boolean | undefined }),
};
