/**
 * The fault test on real PostgreSQL and MariaDB (test/helpers/faultScenario.ts): 4 worker
 * processes, 10,000 tasks with a unique-key side effect; one worker SIGKILLed three times and
 * replaced, another's connections killed by the server twice. Every task must end completed, no
 * side effect may be missing, and executions beyond one per task may be at most what the killed
 * workers held.
 */
import { FAULT_KILLS, FAULT_CONCURRENCY, FAULT_TASKS, FAULT_WORKERS, type FaultDatabase, mysqlFaultDatabase, postgresFaultDatabase, runFaultScenario } from '../helpers/faultScenario';
import { useMysqlDatabase } from '../helpers/mysql';
import { usePostgresDatabase } from '../helpers/postgres';

const pgUrl = usePostgresDatabase('fault test');
const mysqlUrl = useMysqlDatabase('fault test');

jest.setTimeout(240_000);

const databases: Array<() => FaultDatabase> = [];
if (pgUrl) databases.push(() => postgresFaultDatabase(pgUrl));
if (mysqlUrl) databases.push(() => mysqlFaultDatabase(mysqlUrl));

for (const database of databases) {
  const { name } = database();
  test(`${name}: ${FAULT_WORKERS} workers, ${FAULT_TASKS} tasks, one worker SIGKILLed ${FAULT_KILLS} times, another's connections killed twice: nothing lost, extra runs within what the killed held`, async () => {
    const figures = await runFaultScenario({ database: database() });
    console.log(`fault test on ${name}: ${JSON.stringify(figures)}`);

    expect(figures.completed).toBe(FAULT_TASKS);
    expect(figures.lost).toBe(0);
    expect(figures.executions - figures.extraExecutions).toBe(FAULT_TASKS);
    expect(figures.extraExecutions).toBeLessThanOrEqual(FAULT_KILLS * FAULT_CONCURRENCY);
    expect(figures.connectionsKilled).toBeGreaterThan(0);
    expect(figures.workersAliveAtEnd).toBe(FAULT_WORKERS);
  });
}
