/**
 * The conformance suite on a real MySQL or MariaDB server (TASKQ_TEST_MYSQL_URL, e.g.
 * mysql://root@127.0.0.1:3306/test), in a database of its own that is dropped at the end.
 */
import { useMysqlDatabase } from '../helpers/mysql';
import { describeBrokerConformance } from './queueBrokerConformance';
import { rdsUnderTest } from './rdsUnderTest';
import { describeTaskFlows } from './taskFlowConformance';
import { describeTaskLimits } from './taskLimitsConformance';
import { describeTaskSemantics } from './taskSemanticsConformance';
import { describeRecurring } from './recurringConformance';
import { describeUniqueTasks } from './uniqueTasksConformance';
import { describeQueueMaintenance } from './queueMaintenanceConformance';

const connection = useMysqlDatabase('conformance');

if (connection) {
  let n = 0;
  // Tables of their own per test, so a test never sees another's leftovers.
  const underTest = async () => {
    const suffix = ++n;
    return rdsUnderTest(connection, { messages: `messages_${suffix}`, taskLog: `task_log_${suffix}` });
  };
  describeBrokerConformance('mysql', underTest);
  describeTaskSemantics('mysql', underTest);
  describeRecurring('mysql', underTest);
  describeTaskFlows('mysql', underTest);
  describeTaskLimits('mysql', underTest);
  describeUniqueTasks('mysql', underTest);
  describeQueueMaintenance('mysql', underTest);
}
