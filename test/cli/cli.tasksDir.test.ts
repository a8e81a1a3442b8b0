/**
 * The task folder from outside: `tasksDir` in the config, tasks loaded by name in the enqueuing
 * process and in a worker process (CommonJS and ES modules), `taskq tasks` listing what is
 * registered and where from, and names that try to leave the folder.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CliProject, collect } from '../helpers/cliProject';

jest.setTimeout(60_000);

interface TaskRow {
  name: string | null;
  kind: string | null;
  from: string;
  note: string;
}

describe('taskq with a task folder (tasksDir)', () => {
  let project: CliProject;

  beforeEach(async () => {
    project = new CliProject();
    const dir = join(project.dir, 'jobs');
    mkdirSync(dir);
    writeFileSync(join(dir, 'reindex_records.js'), `
const { AbstractTask } = require('taskq');
class ReindexRecords extends AbstractTask {
  static taskName = 'REINDEX_RECORDS';
  run() { return { reindexed: this.getParameter('count') }; }
}
module.exports = { ReindexRecords };
`);
    writeFileSync(join(dir, 'send_digest.mjs'), `
import { AbstractTask } from 'taskq';
export class SendDigest extends AbstractTask {
  static taskName = 'SEND_DIGEST';
  run() { return 'digest sent'; }
}
`);
    writeFileSync(join(dir, '_old_import.js'), "throw new Error('a disabled file is never loaded');\n");
    writeFileSync(join(dir, 'broken.js'), 'this is not javascript (\n');
    writeFileSync(join(project.dir, 'outside.js'), "throw new Error('a file outside the folder is never loaded');\n");
    project.writeConfig({
      queues: [{ name: 'standard', broker: { type: 'rds', connection: 'sqlite:./taskq.db' } }],
      taskLog: { type: 'rds', connection: 'sqlite:./taskq.db' },
      tasks: ['./tasks.js'],
      tasksDir: './jobs',
    });
    expect((await project.run(['initialize-queue'])).code).toBe(0);
  });

  afterEach(() => project.remove());

  test('a worker process loads folder tasks by name, CommonJS and ES modules, and runs them', async () => {
    const worker = project.spawn(['run-worker', '--log-level=silent']);
    const done = collect(worker);
    try {
      const reindex = await project.run(['enqueue', 'REINDEX_RECORDS', '--params', '{"count":3}', '--wait', '--wait-timeout=20000']);
      expect(reindex).toMatchObject({ code: 0, stdout: expect.stringMatching(/ completed: Task completed\n\{"reindexed":3\}\n$/) });
      const digest = await project.run(['enqueue', 'SEND_DIGEST', '--wait', '--wait-timeout=20000']);
      expect(digest).toMatchObject({ code: 0, stdout: expect.stringMatching(/ completed: Task completed\n"digest sent"\n$/) });
    } finally {
      worker.kill('SIGTERM');
    }
    expect((await done).code).toBe(0);
  });

  test('names that are not a folder task are unknown, and nothing outside the folder is loaded', async () => {
    for (const name of ['../outside', 'OUTSIDE', 'OLD_IMPORT', '_OLD_IMPORT', 'jobs/reindex_records', 'reindex_records.js']) {
      const result = await project.run(['enqueue', name]);
      expect({ name, code: result.code, stderr: result.stderr }).toEqual({ name, code: 2, stderr: expect.stringMatching(new RegExp(`^taskq: Unknown task "${name.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}"; registered: `)) });
    }
    const broken = await project.run(['enqueue', 'BROKEN']);
    expect(broken.code).toBe(2);
    expect(broken.stderr).toMatch(/broken\.js could not be loaded: /);
  });

  test('taskq tasks lists every task with where it comes from, and the folder files that give none', async () => {
    const result = await project.run(['tasks', '--json']);
    expect(result.code).toBe(1); // broken.js does not load
    const rows = JSON.parse(result.stdout) as TaskRow[];
    const folder = (file: string) => expect.stringMatching(new RegExp(`^tasksDir: .*/jobs/${file.replace('.', '\\.')}$`));
    expect(rows).toEqual([
      { name: 'CallbackTask:shout', kind: 'callback', from: 'tasks: ./tasks.js', note: '' },
      { name: 'Fail', kind: 'task', from: 'tasks: ./tasks.js', note: '' },
      { name: 'Hello', kind: 'task', from: 'tasks: ./tasks.js', note: '' },
      { name: 'REINDEX_RECORDS', kind: 'task', from: folder('reindex_records.js'), note: '' },
      { name: 'SEND_DIGEST', kind: 'task', from: folder('send_digest.mjs'), note: '' },
      { name: 'Slow', kind: 'task', from: 'tasks: ./tasks.js', note: '' },
      { name: null, kind: null, from: folder('_old_import.js'), note: 'disabled (its name starts with _)' },
      { name: null, kind: null, from: folder('broken.js'), note: expect.stringMatching(/^error: .*broken\.js could not be loaded: /) },
    ]);
    const text = await project.run(['tasks']);
    expect(text.stdout.split('\n')[0]).toMatch(/^NAME\s+KIND\s+FROM\s+NOTE$/);
    expect(text.stdout).toMatch(/^REINDEX_RECORDS\s+task\s+tasksDir: .*reindex_records\.js/m);
  });

  test('a tasksDir that does not exist is a usage error naming it', async () => {
    project.writeConfig({ queues: [{ name: 'standard', broker: { type: 'rds', connection: 'sqlite:./taskq.db' } }], tasksDir: './nowhere' });
    const result = await project.run(['tasks']);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/^taskq: tasksDir: the folder .*nowhere does not exist\n$/);
  });
});
