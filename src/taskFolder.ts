import { readdirSync, realpathSync, statSync } from 'node:fs';
import { extname, join, sep } from 'node:path';
import { pathToFileURL } from 'node:url';
import { type CallbackDefinition, isCallbackDefinition } from './callbackTask';
import { reasonOf } from './errorText';
import { ConfigError, TaskModuleError } from './errors';
import { type TaskClass, isTaskClass, taskNameOf } from './task';

/**
 * The names a folder task may have: letters, digits and underscores, starting with a letter. No
 * dot, slash, backslash or `..` can pass, so a name from a message or a request never reaches
 * the file system as anything but one file name inside the folder.
 */
const FOLDER_TASK_NAME = /^[A-Za-z][A-Za-z0-9_]{0,99}$/;
const EXTENSIONS = ['.js', '.mjs', '.cjs'];

/** The name a folder entry is loaded by: a task class's registered name, a callback's own. */
const nameOf = (entry: TaskClass | CallbackDefinition) => (isCallbackDefinition(entry) ? entry.name : taskNameOf(entry));

/** A file of the folder, as `taskq tasks` lists it. */
export interface TaskFolderFile {
  file: string;
  /** Named with a leading `_`: never loaded. */
  disabled: boolean;
  /** Its name cannot be a task's (not letters, digits and underscores): never loaded. */
  ignored: boolean;
}

/**
 * A folder of task modules loaded by task name, the ANDS task manager's way: the task named
 * `REINDEX_RECORDS` is the one `reindex_records.js` (or `.mjs`, `.cjs`) in that folder exports.
 * A file whose name starts with `_` is disabled. Nothing outside the folder is ever loaded: the
 * name is checked against FOLDER_TASK_NAME before any file access, and the file's real path
 * (symbolic links followed) must lie inside the folder's.
 */
export class TaskFolder {
  readonly dir: string;

  constructor(dir: string) {
    let real: string;
    try {
      real = realpathSync(dir);
    } catch {
      throw new ConfigError(`tasksDir: the folder ${dir} does not exist`);
    }
    if (!statSync(real).isDirectory()) throw new ConfigError(`tasksDir: ${dir} is not a folder`);
    this.dir = real;
  }

  /** The file the task `name` would come from, or undefined when there is none (or the name cannot be one). */
  fileFor(name: string): string | undefined {
    if (!FOLDER_TASK_NAME.test(name)) return undefined;
    for (const ext of EXTENSIONS) {
      const candidate = join(this.dir, `${name.toLowerCase()}${ext}`);
      let real: string;
      try {
        real = realpathSync(candidate);
      } catch {
        continue;
      }
      if (!real.startsWith(this.dir + sep) || !statSync(real).isFile()) continue;
      return real;
    }
    return undefined;
  }

  /**
   * Loads the task `name` from its file: the exported task class or callback registered under
   * exactly that name. Undefined when the folder has no file for it; a file that does not load,
   * or exports no task of that name, is an error that says so.
   */
  async load(name: string): Promise<TaskClass | CallbackDefinition | undefined> {
    const file = this.fileFor(name);
    if (!file) return undefined;
    const found = (await loadExports(file)).find((entry) => nameOf(entry) === name);
    if (!found) throw new TaskModuleError(`tasksDir: ${file} exports no task named "${name}"`);
    return found;
  }

  /** The folder's task files, sorted. */
  list(): TaskFolderFile[] {
    return readdirSync(this.dir)
      .filter((file) => EXTENSIONS.includes(extname(file)))
      .sort()
      .map((file) => {
        const stem = file.slice(0, -extname(file).length);
        return { file, disabled: stem.startsWith('_'), ignored: !stem.startsWith('_') && !FOLDER_TASK_NAME.test(stem) };
      });
  }

  /**
   * The names of the tasks (and callbacks) one of the folder's files, as `list` names it, exports:
   * the names `load` matches. Loaded whatever the file's own name, for `taskq tasks`.
   */
  async namesIn(file: string): Promise<string[]> {
    if (!this.list().some((listed) => listed.file === file)) throw new ConfigError(`tasksDir: ${file} is not a task file of ${this.dir}`);
    return (await loadExports(join(this.dir, file))).map(nameOf);
  }
}

/**
 * The task classes and callbacks a module exports (named, or under its default export). A module
 * that does not load is a TaskModuleError: "`what` could not be loaded: reason".
 */
export async function loadExports(file: string, what = file): Promise<Array<TaskClass | CallbackDefinition>> {
  let mod: Record<string, unknown>;
  try {
    mod = extname(file) === '.mjs' ? ((await import(pathToFileURL(file).href)) as Record<string, unknown>) : (require(file) as Record<string, unknown>);
  } catch (error) {
    throw new TaskModuleError(`${what} could not be loaded: ${reasonOf(error)}`);
  }
  const exported = [...Object.values(mod), ...(mod.default && typeof mod.default === 'object' ? Object.values(mod.default) : [mod.default])];
  return [...new Set(exported.filter((value): value is TaskClass | CallbackDefinition => isTaskClass(value) || isCallbackDefinition(value)))];
}
