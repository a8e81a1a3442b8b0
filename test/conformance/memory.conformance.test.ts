import { InMemoryQueueBroker, InMemoryTaskLogBroker } from '../../src';
import { describeBrokerConformance } from './queueBrokerConformance';
import { describeTaskSemantics } from './taskSemanticsConformance';

describeBrokerConformance('memory (async)', async () => ({
  queueBroker: new InMemoryQueueBroker({ sync: false }),
  taskLogBroker: new InMemoryTaskLogBroker(),
  cleanup: async () => undefined,
}));

describeTaskSemantics('memory (async)', async () => ({
  queueBroker: new InMemoryQueueBroker({ sync: false }),
  taskLogBroker: new InMemoryTaskLogBroker(),
  cleanup: async () => undefined,
}));

describeTaskSemantics('memory (sync)', async () => ({
  queueBroker: new InMemoryQueueBroker(),
  taskLogBroker: new InMemoryTaskLogBroker(),
  cleanup: async () => undefined,
}), { sync: true });
