import type { WorkerHeartbeat } from '../../../src/taskLog/taskLogBroker';
import type { RdsConnection } from '../connection';

/**
 * Upserts a worker's heartbeat: its row is made at the first beat and updated at the next ones,
 * `last_seen_at` set on the database's clock so that workers on hosts whose clocks disagree are
 * still compared alike. `started_at` is the worker's own, kept from the first beat.
 */
export async function recordWorker(db: RdsConnection, table: string, heartbeat: WorkerHeartbeat): Promise<void> {
  const t = db.quote(table);
  const now = db.now;
  const updates = ['host', 'pid', 'queues', 'tasks_run', 'status', 'heartbeat_ms'];
  const upsert =
    db.dialect === 'mysql'
      ? `ON DUPLICATE KEY UPDATE ${updates.map((c) => `${c} = VALUES(${c})`).join(', ')}, last_seen_at = ${now}`
      : `ON CONFLICT (id) DO UPDATE SET ${updates.map((c) => `${c} = excluded.${c}`).join(', ')}, last_seen_at = ${now}`;
  await db.exec.run(
    `INSERT INTO ${t} (id, host, pid, queues, started_at, last_seen_at, tasks_run, status, heartbeat_ms) VALUES (?, ?, ?, ?, ?, ${now}, ?, ?, ?) ${upsert}`,
    [heartbeat.id, heartbeat.host, heartbeat.pid, JSON.stringify(heartbeat.queues), heartbeat.startedAt.getTime(), heartbeat.tasksRun, heartbeat.status, heartbeat.heartbeatMs],
  );
}
