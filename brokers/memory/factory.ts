import type { BrokerConfig, BrokerFactory } from '../../src/brokerFactory';
import { InMemoryQueueBroker } from './inMemoryQueueBroker';
import { InMemoryTaskLogBroker } from './inMemoryTaskLogBroker';

export const factory: BrokerFactory = {
  queueBroker: (config: BrokerConfig) => new InMemoryQueueBroker({ sync: config.sync as boolean | undefined, receive: config.receive as number | undefined }),
  taskLogBroker: (config: BrokerConfig) => new InMemoryTaskLogBroker({ maxEntries: config.maxEntries as number | undefined }),
};
