import { InMemoryQueueBroker, InMemoryTaskLogBroker } from '../../src';
import { describeBrokerConformance } from './queueBrokerConformance';

describeBrokerConformance('memory (async)', async () => ({
  queueBroker: new InMemoryQueueBroker({ sync: false }),
  taskLogBroker: new InMemoryTaskLogBroker(),
  cleanup: async () => undefined,
}));
