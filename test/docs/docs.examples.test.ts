/**
 * Every ```ts block of docs/*.md (the README's quick start has its own test), type-checked against
 * the built package as a reader would use it: each block is written to its own module of a temp
 * ES module project (`"type": "module"`, so top-level await works) whose node_modules/taskq is
 * this repository, and all of them are checked in ONE `tsc --noEmit` run (strict, nodenext,
 * es2022). A doc edit that uses a name it never imports or defines, or an API that does not
 * exist, fails this test with the doc file and the line of the block's fence.
 *
 * Conventions, written as an HTML comment on the line right before the fence:
 *
 * - no marker: the block is a complete module, compiled as written (`<doc>-<line>.ts`).
 * - `<!-- file: NAME -->`: the same, written as `NAME` at the project root so other blocks can
 *   import it (getting-started.md's `tasks.ts`, imported as `./tasks.js`).
 * - `<!-- fragment -->`: statements, compiled as the body of `example(...)` below, which
 *   receives the values the surrounding text talks about: `dispatcher`, a task `id`, a
 *   `filter` and a `force` flag. taskq's common exports are in scope (FRAGMENT_VALUES and
 *   FRAGMENT_TYPES), and so is the `GenerateInvoice` task of getting-started.md's `tasks.ts`. The fragment's own `import` lines are
 *   moved to the top of the module. An `interface` it declares under the name of one of taskq's
 *   exports must match the exported one (assignable both ways).
 * - `<!-- fragment: task method -->`: methods of a task class, compiled inside
 *   `abstract class Example extends AbstractTask<{ orderId: number }>`; `db` and `copyBatch`
 *   stand for the application's own code (TASK_METHOD_PRELUDE), as the text says.
 * - `<!-- unchecked: REASON -->`: not compiled; listed in UNCHECKED with its reason, so a new
 *   exception is a visible change to this test.
 * - `<!-- run -->`: a complete module that is also run (second test below): compiled to
 *   JavaScript, executed with node in a folder of its own, and what it prints on stdout must be
 *   the first ```text block after it (the output the doc shows).
 *
 * The stubs in APP_MODULES are the reader's own modules the complete examples import (`./pdf.js`,
 * `./cache.js`, a hypothetical `./redisQueueBroker.js`): each block shows where such a name
 * comes from, the stub only gives it a type.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const ROOT = resolve(__dirname, '../..');
const DOCS = join(ROOT, 'docs');
const TSC = join(ROOT, 'node_modules/typescript/bin/tsc');

/** Blocks deliberately not compiled, as `doc: reason` (the marker in the doc must match; lines move, so none here). */
const UNCHECKED = [
  "brokers.md: runs inside taskq's own test suite (test/conformance), which the package does not export",
  "getting-started.md: uses the application's own knex, which the docs' check project does not install",
];

/** What a fragment sees besides its parameters: taskq's exports (less those the fragment imports itself) and GenerateInvoice. */
const FRAGMENT_VALUES = ['AbstractTask', 'CallbackTask', 'InMemoryQueueBroker', 'InMemoryTaskLogBroker', 'Queue', 'QueueDispatcher', 'RdsQueueBroker', 'RdsTaskLogBroker', 'Report', 'TaskLog', 'TaskLogFilter', 'TaskStatus', 'Worker', 'createDispatcher', 'defineCallback', 'installWorkerSignals', 'loadConfig'];
const FRAGMENT_TYPES = ['BrokerDescription', 'JsonValue', 'NewTaskLogEntry', 'OutgoingMessage', 'ReceivedMessage', 'ReportData', 'TaskContext', 'TaskLogBroker', 'TaskLogEntry'];
function fragmentPrelude(ownImports: string): string {
  const own = new Set([...ownImports.matchAll(/\{([^}]*)\}/g)].flatMap((match) => match[1].split(',').map((name) => name.replace(/^\s*type\s+/, '').trim())));
  const names = [...FRAGMENT_VALUES.filter((name) => !own.has(name)), ...FRAGMENT_TYPES.filter((name) => !own.has(name)).map((name) => `type ${name}`)];
  return `import { ${names.join(', ')} } from 'taskq';\nimport { GenerateInvoice } from './tasks.js';\n`;
}
const FRAGMENT_PARAMS = 'dispatcher: QueueDispatcher, id: string, filter: TaskLogFilter, force: boolean';

const TASK_METHOD_PRELUDE = `import { AbstractTask, Report, type TaskContext } from 'taskq';
declare const db: { count(): Promise<number> };
declare function copyBatch(offset: number, size: number, options: { signal: AbortSignal }): Promise<void>;
`;

const APP_MODULES: Record<string, string> = {
  'pdf.ts': 'export declare function render(orderId: number, options: { signal: AbortSignal }): Promise<{ pages: number }>;\n',
  'cache.ts': 'export declare const cache: { deleteByPrefix(prefix: string): Promise<number> };\n',
  'redisQueueBroker.ts': "import type { QueueBroker } from 'taskq';\nexport declare const RedisQueueBroker: new (options: { url: string; receive?: number }) => QueueBroker;\n",
};

interface Block {
  doc: string;
  /** 1-based line of the opening fence. */
  line: number;
  marker: string | null;
  code: string;
}

function docBlocks(): Block[] {
  const blocks: Block[] = [];
  for (const doc of readdirSync(DOCS).filter((name) => name.endsWith('.md')).sort()) {
    const lines = readFileSync(join(DOCS, doc), 'utf8').split('\n');
    for (let i = 0; i < lines.length; i++) {
      const open = /^(\s*)```ts\s*$/.exec(lines[i]);
      if (!open) continue;
      const indent = open[1].length;
      const end = lines.findIndex((text, j) => j > i && /^\s*```\s*$/.test(text));
      if (end < 0) throw new Error(`${doc}:${i + 1}: unterminated code block`);
      const marker = /^\s*<!-- (.+?) -->\s*$/.exec(lines[i - 1] ?? '')?.[1] ?? null;
      const code = lines.slice(i + 1, end).map((text) => text.slice(Math.min(indent, text.length - text.trimStart().length))).join('\n');
      blocks.push({ doc, line: i + 1, marker, code });
      i = end;
    }
  }
  return blocks;
}

/** Splits a fragment's import statements (which may span lines) from its body. */
function splitImports(code: string): { imports: string; body: string } {
  const imports: string[] = [];
  const body = code.replace(/^import\s[\s\S]*?from\s+'[^']+';[^\n]*\n?/gm, (statement) => {
    imports.push(statement.trimEnd());
    return '\n'.repeat(statement.split('\n').length - 1);
  });
  return { imports: imports.join('\n'), body };
}

/**
 * A fragment that spells out one of taskq's interfaces (`interface TaskLogEntry { … }`) must
 * describe the real one: each is assignable to the other.
 */
function sameAsExported(body: string): string {
  return [...body.matchAll(/^interface (\w+)/gm)].map(([, name]) =>
    `  const same${name}: [${name}] extends [import('taskq').${name}] ? ([import('taskq').${name}] extends [${name}] ? 'same' : 'taskq has members this ${name} lacks or types differently') : 'this ${name} does not fit taskq\\'s' = 'same';\n  void same${name};\n`).join('');
}

/** The module a block compiles as: file name (relative to the project), text, and how many lines precede the block's first line. */
function moduleFor(block: Block): { file: string; text: string; offset: number } {
  const name = `${block.doc.replace(/\.md$/, '')}-${block.line}.ts`;
  if (block.marker === null || block.marker === 'run') return { file: name, text: `${block.code}\n`, offset: 0 };
  const file = /^file: (\S+)$/.exec(block.marker);
  if (file) return { file: file[1], text: `${block.code}\n`, offset: 0 };
  if (block.marker === 'fragment') {
    const { imports, body } = splitImports(block.code);
    const head = `${fragmentPrelude(imports)}${imports}\nexport async function example(${FRAGMENT_PARAMS}) {\n`;
    return { file: name, text: `${head}${body}\n${sameAsExported(body)}}\n`, offset: head.split('\n').length - 1 };
  }
  if (block.marker === 'fragment: task method') {
    const head = `${TASK_METHOD_PRELUDE}export abstract class Example extends AbstractTask<{ orderId: number }> {\n`;
    return { file: name, text: `${head}${block.code}\n}\n`, offset: head.split('\n').length - 1 };
  }
  throw new Error(`${block.doc}:${block.line}: unknown marker <!-- ${block.marker} -->`);
}

/** A project folder whose node_modules/taskq is this repository, as a reader's would be. */
function readerProject(compilerOptions: Record<string, unknown>): string {
  const dir = mkdtempSync(join(tmpdir(), 'taskq-docs-'));
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'docs-examples', private: true, type: 'module' }));
  writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify({
    compilerOptions: { strict: true, module: 'nodenext', moduleResolution: 'nodenext', target: 'es2022', skipLibCheck: true, types: ['node'], ...compilerOptions },
    include: ['**/*.ts'],
  }));
  mkdirSync(join(dir, 'node_modules', '@types'), { recursive: true });
  symlinkSync(ROOT, join(dir, 'node_modules', 'taskq'), 'dir');
  // What the examples import besides taskq: zod, for params schemas.
  symlinkSync(join(ROOT, 'node_modules', 'zod'), join(dir, 'node_modules', 'zod'), 'dir');
  symlinkSync(join(ROOT, 'node_modules', '@types', 'node'), join(dir, 'node_modules', '@types', 'node'), 'dir');
  return dir;
}

/** The output a `run` block must print: the first ```text block after it. */
function expectedOutput(block: Block): string {
  const lines = readFileSync(join(DOCS, block.doc), 'utf8').split('\n');
  const start = lines.findIndex((text, i) => i >= block.line && /^```text\s*$/.test(text));
  const end = lines.findIndex((text, i) => i > start && /^```\s*$/.test(text));
  if (start < 0 || end < 0) throw new Error(`${block.doc}:${block.line}: a run block needs a \`\`\`text block after it with what it prints`);
  return lines.slice(start + 1, end).join('\n');
}

test('every run block of docs/*.md prints the output the doc shows', () => {
  const runs = docBlocks().filter((block) => block.marker === 'run');
  expect(runs.length).toBeGreaterThan(0);
  for (const block of runs) {
    // A folder per example: each starts with no database file of another's.
    const dir = readerProject({ outDir: 'out', rootDir: '.' });
    try {
      const file = `${block.doc.replace(/\.md$/, '')}-${block.line}`;
      writeFileSync(join(dir, `${file}.ts`), `${block.code}\n`);
      execFileSync(process.execPath, [TSC, '-p', 'tsconfig.json', '--pretty', 'false'], { cwd: dir, stdio: 'pipe' });
      const stdout = execFileSync(process.execPath, [join('out', `${file}.js`)], { cwd: dir, encoding: 'utf8', timeout: 30_000 });
      expect({ example: `docs/${block.doc}:${block.line}`, stdout: stdout.trimEnd() }).toEqual({ example: `docs/${block.doc}:${block.line}`, stdout: expectedOutput(block) });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
}, 120_000);

test('every ts block of docs/*.md compiles against the built package', () => {
  const blocks = docBlocks();
  expect(blocks.length).toBeGreaterThan(20);

  const unchecked = blocks.filter((block) => block.marker?.startsWith('unchecked:'));
  expect(unchecked.map((block) => `${block.doc}: ${block.marker!.slice('unchecked:'.length).trim()}`)).toEqual(UNCHECKED);

  const dir = readerProject({ noEmit: true });
  try {
    for (const [file, text] of Object.entries(APP_MODULES)) writeFileSync(join(dir, file), text);

    /** file -> where its lines come from, to turn tsc's positions back into doc lines. */
    const origins = new Map<string, { block: Block; offset: number }>();
    for (const block of blocks) {
      if (block.marker?.startsWith('unchecked:')) continue;
      const { file, text, offset } = moduleFor(block);
      if (origins.has(file) || file in APP_MODULES) throw new Error(`${block.doc}:${block.line}: a second block writes ${file}`);
      origins.set(file, { block, offset });
      writeFileSync(join(dir, file), text);
    }

    let output = '';
    try {
      execFileSync(process.execPath, [TSC, '-p', 'tsconfig.json', '--pretty', 'false'], { cwd: dir, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    } catch (error) {
      output = String((error as { stdout?: string }).stdout ?? error);
    }
    // "task-log-100.ts(12,5): error TS2304: …" -> "docs/task-log.md:111 (block at line 100): error TS2304: …"
    const errors = output.split('\n').filter((text) => text.trim() !== '').map((text) => {
      const match = /^(.+?)\((\d+),(\d+)\): (.*)$/.exec(text);
      const origin = match ? origins.get(match[1]) : undefined;
      if (!match || !origin) return text;
      const docLine = origin.block.line + Number(match[2]) - origin.offset;
      return `docs/${origin.block.doc}:${docLine} (block at line ${origin.block.line}): ${match[4]}`;
    });
    expect(errors).toEqual([]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}, 60_000);
