/**
 * The conformance suite on SQS: the fauxqs server jest starts (test/setup/sqsServer.mjs), a
 * standard queue and a FIFO queue, each test on queues of its own. The task log is SQLite.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RdsTaskLogBroker } from '../../src';
import { sqsBroker, uniquePrefix } from '../helpers/sqs';
import { describeBrokerConformance, type BrokerUnderTest } from './queueBrokerConformance';
import { describeTaskFlows } from './taskFlowConformance';
import { describeTaskLimits } from './taskLimitsConformance';
import { describeTaskSemantics } from './taskSemanticsConformance';
import { describeRecurring } from './recurringConformance';
import { describeUniqueTasks } from './uniqueTasksConformance';
import { describeQueueMaintenance } from './queueMaintenanceConformance';

function sqsUnderTest(fifo: boolean): () => Promise<BrokerUnderTest> {
  return async () => {
    const queuePrefix = uniquePrefix();
    const queueBroker = sqsBroker({ queuePrefix, fifo });
    const second = sqsBroker({ queuePrefix, fifo });
    const dir = mkdtempSync(join(tmpdir(), 'taskq-sqs-'));
    const taskLogBroker = new RdsTaskLogBroker({ connection: `sqlite:${join(dir, 'log.db')}` });
    await taskLogBroker.createContainer();
    return {
      queueBroker,
      second,
      taskLogBroker,
      // SQS counts visibility and delays in whole seconds.
      leaseMs: 1_000,
      delayedReleaseIsLeased: true,
      leasedCountLags: true,
      fifo,
      async cleanup() {
        await queueBroker.close();
        await second.close();
        await taskLogBroker.close();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  };
}

describeBrokerConformance('sqs', sqsUnderTest(false));
describeBrokerConformance('sqs fifo', sqsUnderTest(true));
describeTaskSemantics('sqs', sqsUnderTest(false));
describeRecurring('sqs', sqsUnderTest(false));
describeTaskFlows('sqs', sqsUnderTest(false));
describeTaskLimits('sqs', sqsUnderTest(false));
describeTaskSemantics('sqs fifo', sqsUnderTest(true));
describeRecurring('sqs fifo', sqsUnderTest(true));
describeTaskFlows('sqs fifo', sqsUnderTest(true));
describeTaskLimits('sqs fifo', sqsUnderTest(true));
describeUniqueTasks('sqs', sqsUnderTest(false));
describeUniqueTasks('sqs fifo', sqsUnderTest(true));
describeQueueMaintenance('sqs', sqsUnderTest(false));
describeQueueMaintenance('sqs fifo', sqsUnderTest(true));
