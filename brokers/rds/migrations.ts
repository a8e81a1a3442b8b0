import type { Knex } from 'knex';
import { TaskqError } from '../../src/errors';
import type { RdsConnection } from './connection';
import type { SqlSession } from './sqlExecutor';

/** One step of a table's schema. Versions count from 1, one after the other. */
export interface Migration {
  version: number;
  /** What it changes, for errors. */
  description: string;
  up(step: MigrationStep): Promise<void>;
}

/** What a migration works with: the session (inside the lock), the dialect, its table. */
export interface MigrationStep {
  session: SqlSession;
  db: RdsConnection;
  table: string;
  /** Runs a knex schema builder's statements in the session. */
  schema(build: (schema: Knex.SchemaBuilder) => Knex.SchemaBuilder): Promise<void>;
  hasTable(table: string): Promise<boolean>;
  columns(table: string): Promise<Set<string>>;
}

/** Which schema version each taskq table is at: one row per table, whatever its kind. */
export const VERSIONS_TABLE = 'taskq_schema_versions';

const HAS_TABLE = {
  sqlite: "SELECT name FROM sqlite_master WHERE type = 'table' AND name = ?",
  postgres: 'SELECT 1 FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = ?',
  mysql: 'SELECT 1 FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name = ?',
};

const COLUMNS = {
  sqlite: 'SELECT name FROM pragma_table_info(?)',
  postgres: 'SELECT column_name AS name FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = ?',
  mysql: 'SELECT column_name AS name FROM information_schema.columns WHERE table_schema = DATABASE() AND table_name = ?',
};

/**
 * Brings `table` to the last of `migrations`, under a database-wide lock so that processes
 * initializing at the same time do it once, one after the other. A table at the last version is
 * left alone (a second initialize does nothing); an older one is upgraded in place, never
 * dropped. A table made before versions were recorded is given the version its shape shows
 * (`versionOfUnrecorded`); one recorded but dropped since is made anew. A table at a version
 * newer than this code knows is refused.
 */
export async function migrate(db: RdsConnection, table: string, migrations: readonly Migration[], versionOfUnrecorded: (step: MigrationStep) => Promise<number>): Promise<void> {
  const latest = migrations.length;
  await db.exec.exclusive(`taskq schema ${table}`, async (session) => {
    const step = stepOf(db, session, table);
    const versions = db.quote(VERSIONS_TABLE);
    if (!(await step.hasTable(VERSIONS_TABLE))) {
      await step.schema((schema) =>
        schema.createTable(VERSIONS_TABLE, (t) => {
          t.string('table_name', 63).primary();
          t.integer('version').notNullable();
          t.bigInteger('updated_at').notNullable();
        }),
      );
    }
    const [row] = await session.all<{ version: number | string }>(`SELECT version FROM ${versions} WHERE table_name = ?`, [table]);
    // A recorded table dropped since (dropContainer, or by hand) is made again from the start.
    const exists = await step.hasTable(table);
    let version = !exists ? 0 : row ? Number(row.version) : await versionOfUnrecorded(step);
    if (version > latest) {
      throw new TaskqError(`The table ${table} is at schema version ${version}, newer than this taskq knows (${latest}): it was initialized by a later taskq; upgrade this one`);
    }
    const record = async () => {
      const updated = await session.run(`UPDATE ${versions} SET version = ?, updated_at = ? WHERE table_name = ?`, [version, Date.now(), table]);
      if (updated === 0) await session.run(`INSERT INTO ${versions} (table_name, version, updated_at) VALUES (?, ?, ?)`, [table, version, Date.now()]);
    };
    if ((row ? Number(row.version) : 0) !== version && version > 0) await record();
    for (const migration of migrations.slice(version)) {
      try {
        await migration.up(step);
      } catch (error) {
        throw new TaskqError(`Upgrading the table ${table} to schema version ${migration.version} (${migration.description}) failed: ${(error as Error).message}`);
      }
      version = migration.version;
      // After each step: MySQL commits DDL as it goes, so a crash midway resumes from here.
      await record();
    }
  });
}

function stepOf(db: RdsConnection, session: SqlSession, table: string): MigrationStep {
  return {
    session,
    db,
    table,
    async schema(build) {
      const statements = build(db.knex.schema).toSQL() as unknown as { sql: string; bindings?: (string | number)[] }[];
      for (const s of statements) await session.run(s.sql, s.bindings ?? []);
    },
    async hasTable(name) {
      return (await session.all(HAS_TABLE[db.dialect], [name])).length > 0;
    },
    async columns(name) {
      return new Set((await session.all<{ name: string }>(COLUMNS[db.dialect], [name])).map((r) => r.name.toLowerCase()));
    },
  };
}
