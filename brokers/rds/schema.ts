import type { Knex } from 'knex';

/**
 * One messages table for every queue, with a queue column (as graphile-worker, Oban and Laravel
 * do): adding or switching a queue needs no DDL, queue names never become SQL identifiers, and
 * a later multi-queue claim is one query. `visible_at` (epoch ms) is when the message may next be
 * received: its run-at time, or the end of its lease while reserved; the claim index covers it.
 */
export async function createMessagesTable(knex: Knex, table: string): Promise<void> {
  if (await knex.schema.hasTable(table)) return;
  await knex.schema.createTable(table, (t) => {
    t.bigIncrements('id').primary();
    t.string('queue', 200).notNullable();
    t.string('task_id', 64).notNullable();
    t.text('body').notNullable();
    t.bigInteger('visible_at').notNullable();
    t.bigInteger('reserved_until').nullable();
    t.integer('receive_count').notNullable().defaultTo(0);
    t.bigInteger('created_at').notNullable();
    t.index(['queue', 'visible_at', 'id'], `${table}_claim_idx`);
  });
}

/** The task log: one row per task; times are epoch ms so every dialect compares them alike. */
export async function createTaskLogTable(knex: Knex, table: string): Promise<void> {
  if (await knex.schema.hasTable(table)) return;
  await knex.schema.createTable(table, (t) => {
    t.string('id', 64).primary();
    t.string('parent_id', 64).nullable();
    t.string('task_name', 200).notNullable();
    t.string('label', 255).notNullable().defaultTo('');
    t.string('status', 20).notNullable();
    t.string('owner', 255).nullable();
    t.string('queue', 200).nullable();
    t.text('parameters').nullable();
    t.text('report').nullable();
    t.text('progress').nullable();
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
