import type { Knex } from 'knex';
import type { RdsConnection } from './connection';
import { requireSkipLocked } from './sql/requireSkipLocked';

const HAS_TABLE = {
  sqlite: "SELECT name FROM sqlite_master WHERE type = 'table' AND name = ?",
  postgres: 'SELECT 1 FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = ?',
  mysql: 'SELECT 1 FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name = ?',
};

async function hasTable(db: RdsConnection, table: string): Promise<boolean> {
  return (await db.exec.all(HAS_TABLE[db.dialect], [table])).length > 0;
}

/**
 * Creates the table unless it exists; another process creating it at the same time is fine.
 * On MySQL the table is utf8mb4 with a binary collation: ids, queue names and the task log's
 * filters compare exactly and sort by code point, as on SQLite and PostgreSQL (the server's
 * default collation is case- and accent-insensitive, and 3-byte utf8 on older servers).
 */
async function createTable(db: RdsConnection, table: string, define: (t: Knex.CreateTableBuilder) => void): Promise<void> {
  if (await hasTable(db, table)) return;
  const statements = db.knex.schema
    .createTable(table, (t) => {
      if (db.dialect === 'mysql') {
        t.charset('utf8mb4');
        t.collate('utf8mb4_bin');
        t.engine('InnoDB');
      }
      define(t);
    })
    .toSQL() as unknown as { sql: string; bindings: (string | number)[] }[];
  try {
    await db.exec.batch(statements.map((s) => ({ sql: s.sql, bindings: s.bindings ?? [] })));
  } catch (error) {
    if (!(await hasTable(db, table))) throw error;
  }
}

/**
 * One messages table for every queue, with a queue column (as graphile-worker, Oban and Laravel
 * do): adding or switching a queue needs no DDL, queue names never become SQL identifiers, and
 * a later multi-queue claim is one query. `visible_at` (epoch ms) is when the message may next be
 * received: its run-at time, or the end of its lease while reserved (then also in
 * `reserved_until`); the claim index (queue, visible_at, id) serves the claim's WHERE and ORDER BY.
 */
export async function createMessagesTable(db: RdsConnection, table: string): Promise<void> {
  // Refused at initialize-queue, not first at a worker's receive.
  await requireSkipLocked(db);
  await createTable(db, table, (t) => {
    t.bigIncrements('id').primary();
    t.string('queue', 200).notNullable();
    t.string('task_id', 64).notNullable();
    // LONGTEXT on MySQL, where TEXT stops at 64 KiB (the others ignore the type).
    t.text('body', 'longtext').notNullable();
    t.bigInteger('visible_at').notNullable();
    t.bigInteger('reserved_until').nullable();
    t.integer('receive_count').notNullable().defaultTo(0);
    t.bigInteger('created_at').notNullable();
    t.index(['queue', 'visible_at', 'id'], `${table}_claim_idx`);
  });
}

const COLUMNS = {
  sqlite: 'SELECT name FROM pragma_table_info(?)',
  postgres: 'SELECT column_name AS name FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = ?',
  mysql: 'SELECT column_name AS name FROM information_schema.columns WHERE table_schema = DATABASE() AND table_name = ?',
};

/**
 * Adds the columns a table made by an earlier version lacks. Each is nullable or has a default,
 * so rows written before read as they should; another process adding one at the same time is fine.
 */
async function addMissingColumns(db: RdsConnection, table: string, columns: Record<string, (t: Knex.AlterTableBuilder) => void>): Promise<void> {
  const present = async () => new Set((await db.exec.all<{ name: string }>(COLUMNS[db.dialect], [table])).map((r) => r.name.toLowerCase()));
  const have = await present();
  for (const [name, define] of Object.entries(columns)) {
    if (have.has(name)) continue;
    const statements = db.knex.schema.alterTable(table, define).toSQL() as unknown as { sql: string; bindings: (string | number)[] }[];
    try {
      await db.exec.batch(statements.map((s) => ({ sql: s.sql, bindings: s.bindings ?? [] })));
    } catch (error) {
      if (!(await present()).has(name)) throw error;
    }
  }
}

/** Columns added to the task log after its first version (see addMissingColumns). */
const TASK_LOG_ADDED_COLUMNS: Record<string, (t: Knex.AlterTableBuilder) => void> = {
  stalls: (t) => void t.integer('stalls').notNullable().defaultTo(0),
  archived_from: (t) => void t.string('archived_from', 20).nullable(),
};

/** The task log: one row per task; times are epoch ms so every dialect compares them alike. */
export async function createTaskLogTable(db: RdsConnection, table: string): Promise<void> {
  await createTaskLogTableV1(db, table);
  await addMissingColumns(db, table, TASK_LOG_ADDED_COLUMNS);
}

function createTaskLogTableV1(db: RdsConnection, table: string): Promise<void> {
  return createTable(db, table, (t) => {
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
    t.index(['status'], `${table}_status_idx`);
    t.index(['parent_id'], `${table}_parent_idx`);
    t.index(['task_name'], `${table}_name_idx`);
    t.index(['created_at'], `${table}_created_idx`);
  });
}
