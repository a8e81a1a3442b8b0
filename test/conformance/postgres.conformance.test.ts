/**
 * The conformance suite on a real PostgreSQL server (TASKQ_TEST_PG_URL, e.g.
 * postgres://postgres@127.0.0.1:5432/test), in a database of its own that is dropped at the end.
 */
import { usePostgresDatabase } from '../helpers/postgres';
import { describeBrokerConformance } from './queueBrokerConformance';
import { rdsUnderTest } from './rdsUnderTest';
import { describeTaskFlows } from './taskFlowConformance';
import { describeTaskLimits } from './taskLimitsConformance';
import { describeTaskSemantics } from './taskSemanticsConformance';
import { describeRecurring } from './recurringConformance';
import { describeUniqueTasks } from './uniqueTasksConformance';
import { describeQueueMaintenance } from './queueMaintenanceConformance';

const connection = usePostgresDatabase('conformance');

if (connection) {
  let n = 0;
  // Tables of their own per test, so a test never sees another's leftovers.
  const underTest = async () => {
    const suffix = ++n;
    return rdsUnderTest(connection, { messages: `messages_${suffix}`, taskLog: `task_log_${suffix}` });
  };
  describeBrokerConformance('postgres', underTest);
  describeTaskSemantics('postgres', underTest);
  describeRecurring('postgres', underTest);
  describeTaskFlows('postgres', underTest);
  describeTaskLimits('postgres', underTest);
  describeUniqueTasks('postgres', underTest);
  describeQueueMaintenance('postgres', underTest);
}
