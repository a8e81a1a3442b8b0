/**
 * The README's quick start, run as a new user would: its files written out as they stand in the
 * README (each block marked `<!-- file: PATH -->`), compiled with tsc, the task enqueued, a worker
 * run, the result read with the CLI. A README edit that breaks the quick start breaks this test.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';

const ROOT = resolve(__dirname, '../..');
const CLI = join(ROOT, 'dist/bin/taskq.js');
const TSC = join(ROOT, 'node_modules/typescript/bin/tsc');

/** The README's marked blocks: path -> content. */
function readmeFiles(): Map<string, string> {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const files = new Map<string, string>();
  for (const match of readme.matchAll(/<!-- file: (\S+) -->\n```\w*\n([\s\S]*?)\n```/g)) files.set(match[1], `${match[2]}\n`);
  return files;
}

test.each([
  ['a CommonJS project', {}],
  ['an ES module project ("type": "module")', { type: 'module' }],
])('the README quick start runs as written, in %s', (_what, packageFields) => {
  const files = readmeFiles();
  expect([...files.keys()].sort()).toEqual(['src/main.ts', 'src/tasks.ts', 'taskq.config.json', 'tsconfig.json']);
  const dir = mkdtempSync(join(tmpdir(), 'taskq-readme-'));
  try {
    writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'quick-start', private: true, ...packageFields }));
    mkdirSync(join(dir, 'node_modules', '@types'), { recursive: true });
    symlinkSync(ROOT, join(dir, 'node_modules', 'taskq'), 'dir');
    symlinkSync(join(ROOT, 'node_modules', '@types', 'node'), join(dir, 'node_modules', '@types', 'node'), 'dir');
    for (const [path, content] of files) {
      mkdirSync(dirname(join(dir, path)), { recursive: true });
      writeFileSync(join(dir, path), content);
    }
    const run = (file: string, args: string[]) => execFileSync(process.execPath, [file, ...args], { cwd: dir, encoding: 'utf8', env: { ...process.env, TASKQ_CONFIG: '' }, stdio: ['ignore', 'pipe', 'pipe'] });

    run(TSC, ['-p', 'tsconfig.json']);
    const id = run(join(dir, 'dist/main.js'), []).trim();
    expect(id).toMatch(/^[0-9a-f-]{36}$/);
    run(CLI, ['run-worker', '--limit=1', '--log-level=silent']);
    const entry = JSON.parse(run(CLI, ['task-log', '--get', id, '--json'])) as { status: string; report: { message: string } };
    expect(entry).toMatchObject({ status: 'completed', report: { message: 'sent to ada@example.com (attempt 1)' } });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}, 60_000);
