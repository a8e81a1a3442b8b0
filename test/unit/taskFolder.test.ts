import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { ConfigError, InMemoryQueueBroker, InMemoryTaskLogBroker, Queue, QueueDispatcher, TaskFolder, TaskLog, TaskModuleError, TaskStatus, silentLogger } from '../../src';

/** The task files require taskq's own source, so the test and the folder share one AbstractTask. */
const SRC = resolve(__dirname, '../../src/index.ts');
const taskFile = (className: string, taskName: string, result: string) => `
const { AbstractTask } = require(${JSON.stringify(SRC)});
class ${className} extends AbstractTask {
  static taskName = ${JSON.stringify(taskName)};
  run() { return ${JSON.stringify(result)}; }
}
module.exports = { ${className} };
`;

describe('TaskFolder: tasks loaded by name from a folder', () => {
  let root: string;
  let dir: string;

  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), 'taskq-folder-'));
    dir = join(root, 'tasks');
    mkdirSync(dir);
    writeFileSync(join(dir, 'reindex_records.js'), taskFile('ReindexRecords', 'REINDEX_RECORDS', 'reindexed'));
    writeFileSync(join(dir, 'export_csv.cjs'), taskFile('ExportCsv', 'EXPORT_CSV', 'exported'));
    writeFileSync(join(dir, '_purge_all.js'), taskFile('PurgeAll', 'PURGE_ALL', 'purged'));
    writeFileSync(join(dir, 'bad-name.js'), taskFile('Bad', 'BAD_NAME', 'bad'));
    writeFileSync(join(dir, 'misnamed.js'), taskFile('Other', 'SOMETHING_ELSE', 'other'));
    writeFileSync(join(dir, 'README.md'), 'not a task');
    // Outside the folder: reachable only by a path, or a link that leads out.
    writeFileSync(join(root, 'outside.js'), taskFile('Outside', 'OUTSIDE', 'escaped'));
    symlinkSync(join(root, 'outside.js'), join(dir, 'escape.js'));
  });

  afterEach(() => rmSync(root, { recursive: true, force: true }));

  test('a name maps to its lower-case file, .js or .cjs; nothing else maps to a file', () => {
    const folder = new TaskFolder(dir);
    expect(folder.fileFor('REINDEX_RECORDS')).toBe(join(folder.dir, 'reindex_records.js'));
    expect(folder.fileFor('Export_Csv')).toBe(join(folder.dir, 'export_csv.cjs'));
    for (const name of ['../outside', '..', 'tasks/reindex_records', 'reindex_records.js', '/etc/passwd', 'a\\b', '', ' REINDEX_RECORDS', '_purge_all', 'BAD-NAME', 'x'.repeat(101), 'NO_SUCH_TASK']) {
      expect({ name, file: folder.fileFor(name) }).toEqual({ name, file: undefined });
    }
  });

  test('a link that leads out of the folder is not followed', () => {
    const folder = new TaskFolder(dir);
    expect(folder.fileFor('ESCAPE')).toBeUndefined();
  });

  test('list names every task file, marking the disabled (_) and the ignored (a name no task can have)', () => {
    expect(new TaskFolder(dir).list()).toEqual([
      { file: '_purge_all.js', disabled: true, ignored: false },
      { file: 'bad-name.js', disabled: false, ignored: true },
      { file: 'escape.js', disabled: false, ignored: false },
      { file: 'export_csv.cjs', disabled: false, ignored: false },
      { file: 'misnamed.js', disabled: false, ignored: false },
      { file: 'reindex_records.js', disabled: false, ignored: false },
    ]);
  });

  test('load gives the class registered under exactly that name; a file without it is an error', async () => {
    const folder = new TaskFolder(dir);
    expect((await folder.load('REINDEX_RECORDS'))?.name).toBe('ReindexRecords');
    await expect(folder.load('NOPE')).resolves.toBeUndefined();
    await expect(folder.load('MISNAMED')).rejects.toThrow(TaskModuleError);
    await expect(folder.load('MISNAMED')).rejects.toThrow(/misnamed\.js exports no task named "MISNAMED"/);
  });

  test('a missing folder is a ConfigError', () => {
    expect(() => new TaskFolder(join(root, 'nowhere'))).toThrow(ConfigError);
    expect(() => new TaskFolder(join(root, 'nowhere'))).toThrow(/tasksDir: the folder .*nowhere does not exist/);
    expect(() => new TaskFolder(join(root, 'outside.js'))).toThrow(/is not a folder/);
  });

  test('a dispatcher with tasksDir enqueues and runs folder tasks by name; other names stay unknown', async () => {
    const dispatcher = new QueueDispatcher({ queues: [new Queue('q', new InMemoryQueueBroker())], taskLog: new TaskLog(new InMemoryTaskLogBroker()), tasksDir: dir, logger: silentLogger });
    const task = await dispatcher.enqueueByName('REINDEX_RECORDS', {});
    expect(await dispatcher.taskLog.get(task.id)).toMatchObject({ status: TaskStatus.Completed, taskName: 'REINDEX_RECORDS', report: { data: 'reindexed' } });
    expect(dispatcher.registry.originOf('REINDEX_RECORDS')).toBe(`tasksDir: ${join(new TaskFolder(dir).dir, 'reindex_records.js')}`);
    for (const name of ['PURGE_ALL', '_PURGE_ALL', 'OUTSIDE', '../outside', 'ESCAPE']) {
      await expect(dispatcher.enqueueByName(name, {})).rejects.toThrow(`Unknown task "${name}"`);
    }
    expect(await dispatcher.taskLog.count()).toBe(1);
  });

  test('associations may name a folder task before it is loaded', () => {
    expect(() => new QueueDispatcher({ queues: [new Queue('q', new InMemoryQueueBroker())], associations: { EXPORT_CSV: 'q' }, taskLog: new TaskLog(new InMemoryTaskLogBroker()), tasksDir: dir })).not.toThrow();
    expect(() => new QueueDispatcher({ queues: [new Queue('q', new InMemoryQueueBroker())], associations: { PURGE_ALL: 'q' }, taskLog: new TaskLog(new InMemoryTaskLogBroker()), tasksDir: dir })).toThrow(/associations.PURGE_ALL: no registered task/);
  });
});
