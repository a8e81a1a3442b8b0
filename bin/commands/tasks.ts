import { join } from 'node:path';
import { type Command } from 'commander';
import { CallbackTask, type TaskRegistry } from '../../src';
import { type GlobalOptions, withDispatcher } from '../context';
import { printJson, printTable, tableCell } from '../output';

interface TaskRow {
  /** The name to enqueue it by (a callback as CallbackTask:name); null for a file that holds none. */
  name: string | null;
  kind: 'task' | 'callback' | null;
  /** The config's module, the task folder's file, or "code". */
  from: string;
  note: string;
}

/**
 * Loads every enabled file of the task folder, registering what a worker would load by name, and
 * returns a row for each file that contributes nothing a worker could load (disabled, ignored,
 * broken, or a task under a name its file does not match). Sets exit code 1 for a broken file.
 */
async function folderRows(registry: TaskRegistry): Promise<TaskRow[]> {
  const folder = registry.taskFolder;
  if (!folder) return [];
  const rows: TaskRow[] = [];
  for (const { file, disabled, ignored } of folder.list()) {
    const from = `tasksDir: ${join(folder.dir, file)}`;
    if (disabled) rows.push({ name: null, kind: null, from, note: 'disabled (its name starts with _)' });
    else if (ignored) rows.push({ name: null, kind: null, from, note: 'ignored (a task file name is letters, digits and _, starting with a letter)' });
    if (disabled || ignored) continue;
    const stem = file.replace(/\.[^.]+$/, '');
    const task = stem.toUpperCase();
    try {
      // A file holds the task whose name, in lower case, is its own name (REINDEX_RECORDS: reindex_records.js).
      const names = await folder.namesIn(file);
      const loadable = names.filter((name) => folder.fileFor(name) === join(folder.dir, file));
      for (const name of loadable) await registry.resolve(name);
      if (loadable.length === 0) rows.push({ name: null, kind: null, from, note: `holds no task named after the file (expected ${task}; it exports: ${names.join(', ') || 'nothing'})` });
    } catch (error) {
      rows.push({ name: null, kind: null, from, note: `error: ${(error as Error).message}` });
      process.exitCode = 1;
    }
  }
  return rows;
}

export function tasksCommand(program: Command): void {
  program
    .command('tasks')
    .description('list the registered tasks and callbacks, and where each comes from (the config\'s modules, the task folder)')
    .option('--json', 'print JSON')
    .action(async (options: { json?: boolean }, command: Command) => {
      const global = command.optsWithGlobals<GlobalOptions>();
      await withDispatcher(global, async ({ dispatcher }) => {
        const { registry } = dispatcher;
        const problems = await folderRows(registry);
        const rows: TaskRow[] = registry.names().map((name) => ({
          name,
          kind: name.startsWith(`${CallbackTask.taskName}:`) ? 'callback' : 'task',
          from: registry.originOf(name) ?? 'code',
          note: '',
        }));
        rows.push(...problems);
        if (options.json) {
          printJson(rows);
          return;
        }
        printTable(['NAME', 'KIND', 'FROM', 'NOTE'], rows.map((row) => [row.name ?? '-', row.kind ?? '-', tableCell(row.from, 120), tableCell(row.note, 160)]));
      });
    });
}
