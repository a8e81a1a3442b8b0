import type { Knex } from 'knex';
import type { JsonValue } from '../../src/json';
import type { ReportData } from '../../src/report';
import type { ClaimResult, StatusChange, TaskLogBroker } from '../../src/taskLog/taskLogBroker';
import type { NewTaskLogEntry, TaskLogEntry } from '../../src/taskLog/taskLogEntry';
import type { TaskLogFilter } from '../../src/taskLog/taskLogFilter';
import { TaskStatus } from '../../src/taskStatus';
import { type RdsConnection, acquireConnection, checkTableName, parseConnection } from './connection';
import { createTaskLogTable } from './schema';
import { applyConditions, applyPaging } from './sql/applyTaskLogFilter';

export interface RdsTaskLogBrokerOptions {
  /** `sqlite:PATH` (default `sqlite:./taskq.db`), `postgres://…`, `mysql://…`. */
  connection?: string;
  table?: string;
}

interface Row {
  id: string;
  parent_id: string | null;
  task_name: string;
  label: string;
  status: string;
  owner: string | null;
  queue: string | null;
  parameters: string | null;
  report: string | null;
  progress: string | null;
  attempts: number;
  worker_id: string | null;
  lease_until: number | string | null;
  created_at: number | string;
  updated_at: number | string;
  started_at: number | string | null;
  finished_at: number | string | null;
}

const INSERT_CHUNK = 300;

const date = (v: number | string | null): Date | null => (v === null ? null : new Date(Number(v)));
const json = (v: string | null): JsonValue => (v === null ? null : (JSON.parse(v) as JsonValue));

/** The task log in an SQL table through knex. */
export class RdsTaskLogBroker implements TaskLogBroker {
  readonly type = 'rds';
  readonly connectionString: string;
  readonly table: string;
  /** The connection string with its password masked. */
  private readonly display: string;
  private connection?: RdsConnection;

  constructor(options: RdsTaskLogBrokerOptions = {}) {
    this.connectionString = options.connection ?? 'sqlite:./taskq.db';
    this.display = parseConnection(this.connectionString).display;
    this.table = checkTableName('table', options.table ?? 'taskq_task_log');
  }

  private get db(): RdsConnection {
    this.connection ??= acquireConnection(this.connectionString);
    return this.connection;
  }

  private get knex(): Knex {
    return this.db.knex;
  }

  async createContainer(): Promise<void> {
    await createTaskLogTable(this.knex, this.table);
  }

  async dropContainer(): Promise<void> {
    await this.knex.schema.dropTableIfExists(this.table);
  }

  async add(entries: readonly NewTaskLogEntry[]): Promise<void> {
    if (entries.length === 0) return;
    const rows = entries.map((e) => {
      const created = e.createdAt.getTime();
      return {
        id: e.id,
        parent_id: e.parentId,
        task_name: e.taskName,
        label: e.label,
        status: e.status,
        owner: e.owner,
        queue: e.queue,
        parameters: JSON.stringify(e.parameters ?? null),
        report: e.report ? JSON.stringify(e.report) : null,
        attempts: 0,
        created_at: created,
        updated_at: created,
        finished_at: e.status === TaskStatus.Failed ? created : null,
      };
    });
    if (rows.length <= INSERT_CHUNK) {
      await this.knex(this.table).insert(rows);
      return;
    }
    await this.knex.transaction(async (trx) => {
      for (let i = 0; i < rows.length; i += INSERT_CHUNK) await trx(this.table).insert(rows.slice(i, i + INSERT_CHUNK));
    });
  }

  async markDequeued(ids: readonly string[]): Promise<void> {
    await this.knex(this.table).whereIn('id', ids).andWhere('status', TaskStatus.Enqueued).update({ status: TaskStatus.Dequeued, updated_at: Date.now() });
  }

  async claim(id: string, workerId: string, leaseUntil: Date, now: Date): Promise<ClaimResult> {
    const at = now.getTime();
    const changed = await this.knex(this.table)
      .where('id', id)
      .andWhere((q) => q.whereIn('status', [TaskStatus.Enqueued, TaskStatus.Dequeued]).orWhere((w) => w.where('status', TaskStatus.Running).andWhere('lease_until', '<', at)))
      .update({ status: TaskStatus.Running, worker_id: workerId, lease_until: leaseUntil.getTime(), attempts: this.knex.raw('attempts + 1'), started_at: at, updated_at: at });
    const row = await this.knex(this.table).select('status', 'attempts', 'lease_until', 'worker_id').where('id', id).first<Pick<Row, 'status' | 'attempts' | 'lease_until' | 'worker_id'> | undefined>();
    if (!row) return { outcome: 'missing' };
    if (changed === 1 && row.worker_id === workerId) return { outcome: 'claimed', attempt: Number(row.attempts) };
    if (row.status === TaskStatus.Running) return { outcome: 'busy', leaseUntil: date(row.lease_until) ?? now };
    return { outcome: 'not-runnable', status: row.status as TaskStatus };
  }

  async renewLeases(ids: readonly string[], workerId: string, leaseUntil: Date): Promise<string[]> {
    const held = () => this.knex(this.table).whereIn('id', ids).andWhere({ worker_id: workerId, status: TaskStatus.Running });
    await held().update({ lease_until: leaseUntil.getTime() });
    return (await held().select('id')).map((r: { id: string }) => r.id);
  }

  async changeStatus(id: string, change: StatusChange): Promise<boolean> {
    const now = Date.now();
    const update: Record<string, unknown> = { status: change.to, updated_at: now };
    if (change.report !== undefined) update.report = change.report === null ? null : JSON.stringify(change.report satisfies ReportData);
    if (change.finished) update.finished_at = now;
    if (change.finished || change.releaseLease) update.lease_until = null;
    if (change.releaseLease) update.worker_id = null;
    const query = this.knex(this.table).where('id', id).whereIn('status', [...change.from]);
    if (change.workerId !== undefined) query.andWhere('worker_id', change.workerId);
    return (await query.update(update)) === 1;
  }

  async setProgress(id: string, workerId: string, progress: JsonValue): Promise<void> {
    await this.knex(this.table).where({ id, worker_id: workerId, status: TaskStatus.Running }).update({ progress: JSON.stringify(progress), updated_at: Date.now() });
  }

  async get(id: string): Promise<TaskLogEntry | null> {
    const row = await this.knex(this.table).where('id', id).first<Row | undefined>();
    return row ? toEntry(row) : null;
  }

  async search(filter: TaskLogFilter): Promise<TaskLogEntry[]> {
    const rows: Row[] = await applyPaging(applyConditions(this.knex(this.table).select('*'), filter), filter);
    return rows.map(toEntry);
  }

  async count(filter: TaskLogFilter): Promise<number> {
    const row = await applyConditions(this.knex(this.table).count({ n: '*' }), filter).first();
    return Number((row as { n: number | string } | undefined)?.n ?? 0);
  }

  async countByStatus(filter: TaskLogFilter): Promise<Partial<Record<TaskStatus, number>>> {
    const rows = (await applyConditions(this.knex(this.table).select('status').count({ n: '*' }).groupBy('status'), filter)) as { status: TaskStatus; n: number | string }[];
    const counts: Partial<Record<TaskStatus, number>> = {};
    for (const row of rows) counts[row.status] = Number(row.n);
    return counts;
  }

  describe() {
    return { type: this.type, connection: this.display, table: this.table };
  }

  async close(): Promise<void> {
    const connection = this.connection;
    this.connection = undefined;
    await connection?.release();
  }
}

function toEntry(row: Row): TaskLogEntry {
  return {
    id: row.id,
    parentId: row.parent_id,
    taskName: row.task_name,
    label: row.label,
    status: row.status as TaskStatus,
    owner: row.owner,
    queue: row.queue,
    parameters: json(row.parameters),
    report: json(row.report) as ReportData | null,
    progress: json(row.progress),
    attempts: Number(row.attempts),
    workerId: row.worker_id,
    leaseUntil: date(row.lease_until),
    createdAt: date(row.created_at) as Date,
    updatedAt: date(row.updated_at) as Date,
    startedAt: date(row.started_at),
    finishedAt: date(row.finished_at),
  };
}
