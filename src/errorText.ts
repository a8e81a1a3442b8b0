/**
 * What a module that failed to load threw, in one line: its message's first line (Node appends a
 * require stack to it), or the thrown value itself when it is not an Error (`throw { code: 1 }`).
 */
export function reasonOf(error: unknown): string {
  if (error instanceof Error || (typeof error === 'object' && error !== null && typeof (error as Error).message === 'string')) {
    return ((error as Error).message || (error as Error).name || 'an error without a message').split('\n')[0];
  }
  let shown: string;
  try {
    shown = JSON.stringify(error) ?? String(error);
  } catch {
    shown = String(error);
  }
  return `it threw ${shown}, not an Error`;
}
