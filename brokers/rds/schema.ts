import { createHash } from 'node:crypto';
import type { Knex } from 'knex';
import type { RdsConnection } from './connection';
import { type Migration, type MigrationStep, migrate } from './migrations';
import { requireSkipLocked } from './sql/requireSkipLocked';

/**
 * A table as taskq makes it on every dialect. On MySQL it is utf8mb4 with a binary collation:
 * ids, queue names and the task log's filters compare exactly and sort by code point, as on
 * SQLite and PostgreSQL (the server's default collation is case- and accent-insensitive, and
 * 3-byte utf8 on older servers).
 */
function createTable(step: MigrationStep, define: (t: Knex.CreateTableBuilder) => void): Promise<void> {
  return step.schema((schema) =>
    schema.createTable(step.table, (t) => {
      if (step.db.dialect === 'mysql') {
        t.charset('utf8mb4');
        t.collate('utf8mb4_bin');
        t.engine('InnoDB');
      }
      define(t);
    }),
  );
}

/** Adds a column unless it is there (a table an older taskq upgraded without recording it). */
async function addColumn(step: MigrationStep, name: string, define: (t: Knex.AlterTableBuilder) => void): Promise<void> {
  if ((await step.columns(step.table)).has(name)) return;
  await step.schema((schema) => schema.alterTable(step.table, define));
}

/**
 * One messages table for every queue, with a queue column (as graphile-worker, Oban and Laravel
 * do): adding or switching a queue needs no DDL, queue names never become SQL identifiers, and
 * a later multi-queue claim is one query. `visible_at` (epoch ms) is when the message may next be
 * received: its run-at time, or the end of its lease while reserved (then also in
 * `reserved_until`); the claim index (queue, visible_at, id) serves the claim's WHERE and ORDER BY.
 */
const MESSAGES_MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    description: 'the messages table',
    up: (step) =>
      createTable(step, (t) => {
        t.bigIncrements('id').primary();
        t.string('queue', 200).notNullable();
        t.string('task_id', 64).notNullable();
        // LONGTEXT on MySQL, where TEXT stops at 64 KiB (the others ignore the type).
        t.text('body', 'longtext').notNullable();
        t.bigInteger('visible_at').notNullable();
        t.bigInteger('reserved_until').nullable();
        t.integer('receive_count').notNullable().defaultTo(0);
        t.bigInteger('created_at').notNullable();
        t.index(['queue', 'visible_at', 'id'], `${step.table}_claim_idx`);
      }),
  },
];

/** The task log: one row per task; times are epoch ms so every dialect compares them alike. */
const TASK_LOG_MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    description: 'the task log table',
    up: (step) =>
      createTable(step, (t) => {
        t.string('id', 64).primary();
        t.string('parent_id', 64).nullable();
        t.string('task_name', 200).notNullable();
        t.string('label', 255).notNullable().defaultTo('');
        t.string('status', 20).notNullable();
        t.string('owner', 255).nullable();
        t.string('queue', 200).nullable();
        t.text('parameters', 'longtext').nullable();
        t.text('report', 'longtext').nullable();
        t.text('progress', 'longtext').nullable();
        t.integer('attempts').notNullable().defaultTo(0);
        t.string('worker_id', 255).nullable();
        t.bigInteger('lease_until').nullable();
        t.bigInteger('created_at').notNullable();
        t.bigInteger('updated_at').notNullable();
        t.bigInteger('started_at').nullable();
        t.bigInteger('finished_at').nullable();
        t.index(['status'], `${step.table}_status_idx`);
        t.index(['parent_id'], `${step.table}_parent_idx`);
        t.index(['task_name'], `${step.table}_name_idx`);
        t.index(['created_at'], `${step.table}_created_idx`);
      }),
  },
  // Added columns are nullable or have a default, so rows written before read as they should.
  { version: 2, description: 'stalls', up: (step) => addColumn(step, 'stalls', (t) => void t.integer('stalls').notNullable().defaultTo(0)) },
  { version: 3, description: 'archived_from', up: (step) => addColumn(step, 'archived_from', (t) => void t.string('archived_from', 20).nullable()) },
  { version: 4, description: 'unique tasks (unique_key, unique_revision)', up: addUniqueKeys },
  {
    // The task list's queries (a status, newest first; counts per status of one task name) read
    // these in index order instead of sorting or counting every row of the status or the name.
    // They take the place of the one-column indexes: writes keep the same number of indexes.
    version: 5,
    description: 'indexes (status, created_at) and (task_name, status)',
    up: async (step) => {
      await addIndex(step, indexName(step.table, 'status_created_idx'), ['status', 'created_at']);
      await addIndex(step, indexName(step.table, 'name_status_idx'), ['task_name', 'status']);
      await dropIndex(step, `${step.table}_status_idx`);
      await dropIndex(step, `${step.table}_name_idx`);
    },
  },
  // When the current run took the task over from one whose lease had run out; NULL if it did not (claimUpdate).
  { version: 6, description: 'stalled_at', up: (step) => addColumn(step, 'stalled_at', (t) => void t.bigInteger('stalled_at').nullable()) },
  { version: 7, description: 'index (finished_at, status)', up: addFinishedIndex },
];

/**
 * Tasks that finished in a time window (the throughput over the last hour, countFinished) are
 * counted from this index alone: a range of it per interval, the status read from the index
 * entry, never the row. PostgreSQL and SQLite leave the unfinished out (partial index), so an
 * enqueue writes no entry in it; MariaDB and MySQL have no partial indexes.
 */
async function addFinishedIndex(step: MigrationStep): Promise<void> {
  const name = indexName(step.table, 'finished_idx');
  if (step.db.dialect === 'mysql') return addIndex(step, name, ['finished_at', 'status']);
  await step.session.run(`CREATE INDEX IF NOT EXISTS ${step.db.quote(name)} ON ${step.db.quote(step.table)} (finished_at, status) WHERE finished_at IS NOT NULL`);
}

/** `<table>_<suffix>`, shortened by a hash to PostgreSQL's 63 characters (it would cut it, and two could meet). */
function indexName(table: string, suffix: string): string {
  const name = `${table}_${suffix}`;
  if (name.length <= 63) return name;
  return `${table.slice(0, 62 - suffix.length - 9)}_${createHash('sha1').update(table).digest('hex').slice(0, 8)}_${suffix}`;
}

async function indexExists(step: MigrationStep, name: string): Promise<boolean> {
  const sql = {
    sqlite: "SELECT 1 FROM sqlite_master WHERE type = 'index' AND name = ?",
    postgres: 'SELECT 1 FROM pg_indexes WHERE schemaname = current_schema() AND indexname = ?',
    mysql: 'SELECT 1 FROM information_schema.statistics WHERE table_schema = DATABASE() AND table_name = ? AND index_name = ?',
  }[step.db.dialect];
  // PostgreSQL cut longer names to 63 characters when it made them (the one-column indexes of long table names).
  const stored = step.db.dialect === 'postgres' ? name.slice(0, 63) : name;
  return (await step.session.all(sql, step.db.dialect === 'mysql' ? [step.table, stored] : [stored])).length > 0;
}

/** Adds an index unless it is there (MySQL has no CREATE INDEX IF NOT EXISTS). */
async function addIndex(step: MigrationStep, name: string, columns: readonly string[]): Promise<void> {
  if (await indexExists(step, name)) return;
  await step.session.run(`CREATE INDEX ${step.db.quote(name)} ON ${step.db.quote(step.table)} (${columns.map((c) => step.db.quote(c)).join(', ')})`);
}

async function dropIndex(step: MigrationStep, name: string): Promise<void> {
  if (!(await indexExists(step, name))) return;
  const stored = step.db.dialect === 'postgres' ? name.slice(0, 63) : name;
  await step.session.run(step.db.dialect === 'mysql' ? `DROP INDEX ${step.db.quote(name)} ON ${step.db.quote(step.table)}` : `DROP INDEX ${step.db.quote(stored)}`);
}

/**
 * Unique tasks: `unique_key` is unique among pending entries only (enqueued or dequeued, and set
 * to NULL when a worker takes the task), so the database decides a race between two enqueues
 * of one key. `unique_revision` counts replaces: a message of an older revision is stale.
 * PostgreSQL and SQLite have partial indexes; MariaDB and MySQL do not, so there a generated
 * column holds the key of a pending entry only (NULL otherwise, and NULLs do not collide).
 */
export const PENDING_SQL = "status IN ('enqueued', 'dequeued')";

async function addUniqueKeys(step: MigrationStep): Promise<void> {
  await addColumn(step, 'unique_key', (t) => void t.string('unique_key', 255).nullable());
  await addColumn(step, 'unique_revision', (t) => void t.integer('unique_revision').notNullable().defaultTo(0));
  const table = step.db.quote(step.table);
  const index = step.db.quote(`${step.table}_unique_idx`);
  if (step.db.dialect !== 'mysql') {
    await step.session.run(`CREATE UNIQUE INDEX IF NOT EXISTS ${index} ON ${table} (unique_key) WHERE unique_key IS NOT NULL AND ${PENDING_SQL}`);
    return;
  }
  if (!(await step.columns(step.table)).has('unique_pending')) {
    // VIRTUAL, not STORED: adding it does not copy the whole table (a big log upgrades at once);
    // the index keeps the values, which is all that is read.
    await step.session.run(`ALTER TABLE ${table} ADD COLUMN unique_pending VARCHAR(255) GENERATED ALWAYS AS (CASE WHEN ${PENDING_SQL} THEN unique_key END) VIRTUAL`);
  }
  const [found] = await step.session.all('SELECT 1 FROM information_schema.statistics WHERE table_schema = DATABASE() AND table_name = ? AND index_name = ?', [step.table, `${step.table}_unique_idx`]);
  if (!found) await step.session.run(`CREATE UNIQUE INDEX ${index} ON ${table} (unique_pending)`);
}

/** A table made before versions were recorded is at least version 1; later steps check what they add. */
const FIRST_VERSION = async (): Promise<number> => 1;

export async function createMessagesTable(db: RdsConnection, table: string): Promise<void> {
  // Refused at initialize-queue, not first at a worker's receive.
  await requireSkipLocked(db);
  await migrate(db, table, MESSAGES_MIGRATIONS, FIRST_VERSION);
}

export function createTaskLogTable(db: RdsConnection, table: string): Promise<void> {
  return migrate(db, table, TASK_LOG_MIGRATIONS, FIRST_VERSION);
}

/** The schema version this code brings each kind of table to. */
export const SCHEMA_VERSIONS = { messages: MESSAGES_MIGRATIONS.length, taskLog: TASK_LOG_MIGRATIONS.length } as const;

/**
 * The starts of rate-limited queues (ClaimLimits.rate): one row per start, kept for the length of
 * the limit's window, read and written by claims made under the limits lock (claimLimited).
 */
const TASK_STARTS_MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    description: 'create',
    up: (step) =>
      createTable(step, (t) => {
        t.increments('id').primary();
        t.string('limit_key', 255).notNullable();
        t.bigInteger('started_at').notNullable();
        t.index(['limit_key', 'started_at'], `${step.table}_key_idx`);
      }),
  },
];

export function createTaskStartsTable(db: RdsConnection, table: string): Promise<void> {
  return migrate(db, table, TASK_STARTS_MIGRATIONS, FIRST_VERSION);
}

/** The starts table of a task log table: its name plus `_starts`, shortened to 63 characters by a hash. */
export function taskStartsTableOf(taskLogTable: string): string {
  const name = `${taskLogTable}_starts`;
  if (name.length <= 63) return name;
  return `${taskLogTable.slice(0, 47)}_${createHash('sha1').update(taskLogTable).digest('hex').slice(0, 8)}_starts`;
}

/**
 * The workers' heartbeats (TaskLogBroker.recordWorker): one row per worker id, upserted every
 * heartbeat; times are epoch ms, `last_seen_at` on the database's clock. `queues` is a JSON array.
 */
const WORKERS_MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    description: 'create',
    up: (step) =>
      createTable(step, (t) => {
        t.string('id', 255).primary();
        t.string('host', 255).notNullable();
        t.integer('pid').notNullable();
        t.text('queues').notNullable();
        t.bigInteger('started_at').notNullable();
        t.bigInteger('last_seen_at').notNullable();
        t.bigInteger('tasks_run').notNullable().defaultTo(0);
        t.string('status', 20).notNullable();
        t.integer('heartbeat_ms').notNullable();
        t.index(['last_seen_at'], `${step.table}_seen_idx`);
      }),
  },
];

export function createWorkersTable(db: RdsConnection, table: string): Promise<void> {
  return migrate(db, table, WORKERS_MIGRATIONS, FIRST_VERSION);
}

/** The workers table of a task log table: its name plus `_workers`, shortened to 63 characters by a hash. */
export function workersTableOf(taskLogTable: string): string {
  const name = `${taskLogTable}_workers`;
  if (name.length <= 63) return name;
  return `${taskLogTable.slice(0, 45)}_${createHash('sha1').update(taskLogTable).digest('hex').slice(0, 8)}_workers`;
}
