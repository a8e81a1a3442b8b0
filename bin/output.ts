/** What commands print: results on stdout (JSON with --json), everything else is a log on stderr. */
export function printJson(value: unknown): void {
  writeOut(`${JSON.stringify(value, null, 2)}\n`);
}

export function printLine(line = ''): void {
  writeOut(`${line}\n`);
}

/** A plain text table: one header row, columns padded to their widest cell. */
export function printTable(headers: string[], rows: string[][]): void {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]))).join('  ');
  printLine(line(headers));
  for (const row of rows) printLine(line(row));
}

/**
 * One table cell on one line: line breaks and other control characters become spaces, and a cell
 * longer than `max` characters is cut, ending in "…".
 */
export function tableCell(text: string | null | undefined, max: number): string {
  // eslint-disable-next-line no-control-regex
  const flat = (text ?? '').replace(/[\u0000-\u001f\u007f]+/g, ' ').trim();
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat;
}

let stdoutClosed = false;

/**
 * The reader of stdout went away (`taskq … | head`): what is left to print goes nowhere, quietly,
 * instead of an unhandled EPIPE error.
 */
export function watchStdout(): void {
  process.stdout.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code === 'EPIPE' || error.code === 'ERR_STREAM_DESTROYED') {
      stdoutClosed = true;
      return;
    }
    process.stderr.write(`taskq: stdout: ${error.message}\n`);
  });
}

function writeOut(text: string): void {
  if (!stdoutClosed) process.stdout.write(text);
}

/** Resolves once everything written to `stream` so far has reached the OS (or the stream failed). */
function drained(stream: NodeJS.WriteStream): Promise<void> {
  if (stream.destroyed || stream.writableEnded) return Promise.resolve();
  // Writes complete in order: the callback of an empty write runs after every earlier write is out.
  return new Promise((resolve) => stream.write('', () => resolve()));
}

/**
 * Exits with `code` once stdout and stderr have drained: process.exit() would otherwise drop what
 * is still buffered for a pipe (everything past the pipe's 64 KiB when the reader is slower).
 */
export async function exitWhenFlushed(code: number): Promise<never> {
  await Promise.all([stdoutClosed ? Promise.resolve() : drained(process.stdout), drained(process.stderr)]);
  process.exit(code);
}
