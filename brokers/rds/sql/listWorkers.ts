import type { WorkerRecord, WorkerRunStatus } from '../../../src/taskLog/taskLogBroker';
import type { RdsConnection } from '../connection';

interface WorkerRow {
  id: string;
  host: string;
  pid: number | string;
  queues: string;
  started_at: number | string;
  last_seen_at: number | string;
  tasks_run: number | string;
  status: string;
  heartbeat_ms: number | string;
  since_seen: number | string;
}

/** Every worker's row, oldest start first, with the time since its last beat on the database's clock. */
export async function listWorkers(db: RdsConnection, table: string): Promise<WorkerRecord[]> {
  const rows = await db.exec.all<WorkerRow>(`SELECT id, host, pid, queues, started_at, last_seen_at, tasks_run, status, heartbeat_ms, ${db.now} - last_seen_at AS since_seen FROM ${db.quote(table)} ORDER BY started_at, id`);
  return rows.map((row) => ({
    id: row.id,
    host: row.host,
    pid: Number(row.pid),
    queues: JSON.parse(row.queues) as string[],
    startedAt: new Date(Number(row.started_at)),
    lastSeenAt: new Date(Number(row.last_seen_at)),
    tasksRun: Number(row.tasks_run),
    status: row.status as WorkerRunStatus,
    heartbeatMs: Number(row.heartbeat_ms),
    // Never negative: SQLite's clock is the host's, read by two statements a moment apart.
    sinceSeenMs: Math.max(0, Number(row.since_seen)),
  }));
}
