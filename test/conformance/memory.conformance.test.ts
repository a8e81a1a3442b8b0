import { InMemoryQueueBroker, InMemoryTaskLogBroker } from '../../src';
import { describeBrokerConformance } from './queueBrokerConformance';
import { describeTaskFlows } from './taskFlowConformance';
import { describeTaskLimits } from './taskLimitsConformance';
import { describeTaskSemantics } from './taskSemanticsConformance';
import { describeRecurring } from './recurringConformance';
import { describeUniqueTasks } from './uniqueTasksConformance';
import { describeQueueMaintenance } from './queueMaintenanceConformance';

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
describeTaskFlows('memory (async)', async () => ({
  queueBroker: new InMemoryQueueBroker({ sync: false }),
  taskLogBroker: new InMemoryTaskLogBroker(),
  cleanup: async () => undefined,
}));
describeTaskLimits('memory (async)', async () => ({
  queueBroker: new InMemoryQueueBroker({ sync: false }),
  taskLogBroker: new InMemoryTaskLogBroker(),
  cleanup: async () => undefined,
}));

describeTaskSemantics('memory (sync)', async () => ({
  queueBroker: new InMemoryQueueBroker(),
  taskLogBroker: new InMemoryTaskLogBroker(),
  cleanup: async () => undefined,
}), { sync: true });
describeTaskFlows('memory (sync)', async () => ({
  queueBroker: new InMemoryQueueBroker(),
  taskLogBroker: new InMemoryTaskLogBroker(),
  cleanup: async () => undefined,
}), { sync: true });
describeTaskLimits('memory (sync)', async () => ({
  queueBroker: new InMemoryQueueBroker(),
  taskLogBroker: new InMemoryTaskLogBroker(),
  cleanup: async () => undefined,
}), { sync: true });

describeUniqueTasks('memory (async)', async () => ({ queueBroker: new InMemoryQueueBroker({ sync: false }), taskLogBroker: new InMemoryTaskLogBroker(), cleanup: async () => undefined }));
describeUniqueTasks('memory (sync)', async () => ({ queueBroker: new InMemoryQueueBroker(), taskLogBroker: new InMemoryTaskLogBroker(), cleanup: async () => undefined }), { sync: true });
describeRecurring('memory (async)', async () => ({ queueBroker: new InMemoryQueueBroker({ sync: false }), taskLogBroker: new InMemoryTaskLogBroker(), cleanup: async () => undefined }));
describeRecurring('memory (sync)', async () => ({ queueBroker: new InMemoryQueueBroker(), taskLogBroker: new InMemoryTaskLogBroker(), cleanup: async () => undefined }), { sync: true });
describeQueueMaintenance('memory (async)', async () => ({ queueBroker: new InMemoryQueueBroker({ sync: false }), taskLogBroker: new InMemoryTaskLogBroker(), cleanup: async () => undefined }));
describeQueueMaintenance('memory (sync)', async () => ({ queueBroker: new InMemoryQueueBroker(), taskLogBroker: new InMemoryTaskLogBroker(), cleanup: async () => undefined }), { sync: true });
