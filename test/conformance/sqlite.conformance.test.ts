import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describeBrokerConformance } from './queueBrokerConformance';
import { rdsUnderTest } from './rdsUnderTest';
import { describeTaskFlows } from './taskFlowConformance';
import { describeTaskLimits } from './taskLimitsConformance';
import { describeTaskSemantics } from './taskSemanticsConformance';
import { describeRecurring } from './recurringConformance';
import { describeUniqueTasks } from './uniqueTasksConformance';
import { describeQueueMaintenance } from './queueMaintenanceConformance';

async function sqliteUnderTest() {
  const dir = mkdtempSync(join(tmpdir(), 'taskq-sqlite-'));
  return rdsUnderTest(`sqlite:${join(dir, 'taskq.db')}`, {}, () => rmSync(dir, { recursive: true, force: true }));
}

describeBrokerConformance('sqlite', sqliteUnderTest);
describeTaskSemantics('sqlite', sqliteUnderTest);
describeRecurring('sqlite', sqliteUnderTest);
describeTaskFlows('sqlite', sqliteUnderTest);
describeTaskLimits('sqlite', sqliteUnderTest);
describeUniqueTasks('sqlite', sqliteUnderTest);
describeQueueMaintenance('sqlite', sqliteUnderTest);
