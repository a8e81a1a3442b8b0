import { linkSync, readFileSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import { ConfigError } from '../src/errors';

/** What a pidfile holds: a live process's pid, a dead one's (stale), or no pid at all. */
export type PidfileHolder =
  | { kind: 'live'; pid: number }
  /** `other`: the pid is running, but not a worker (the pid reused since, after a reboot): its command line. */
  | { kind: 'stale'; pid: number; other?: string }
  | { kind: 'garbled'; content: string }
  | { kind: 'missing' };

/** Takeovers of a stale pidfile tried before giving up (another worker keeps changing it). */
const ACQUIRE_TRIES = 5;

/** True while a process with this pid exists (one of another user's counts: it is not ours to take over). */
export function isProcessAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * The command line of a running process that is not a taskq worker (`run-worker` nowhere in it),
 * or undefined when it may be one. Linux's /proc only; elsewhere every live pid may be a worker.
 */
function notAWorker(pid: number): string | undefined {
  let cmdline: string;
  try {
    cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
  } catch {
    return undefined;
  }
  const args = cmdline.split('\0').filter(Boolean);
  return args.includes('run-worker') ? undefined : args.join(' ').slice(0, 80);
}

/** The pid a pidfile's text names, or undefined when it names none. */
function pidIn(content: string): number | undefined {
  const text = content.trim();
  const pid = Number(text);
  return /^\d+$/.test(text) && Number.isSafeInteger(pid) && pid > 0 ? pid : undefined;
}

/** What the pidfile at `path` holds now. */
export function readPidfile(path: string): PidfileHolder {
  let content: string;
  try {
    content = readFileSync(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { kind: 'missing' };
    throw new ConfigError(`--pidfile ${path}: cannot read it: ${(error as Error).message}`);
  }
  const pid = pidIn(content);
  if (pid === undefined) return { kind: 'garbled', content };
  if (pid === process.pid || !isProcessAlive(pid)) return { kind: 'stale', pid };
  const other = notAWorker(pid);
  return other === undefined ? { kind: 'live', pid } : { kind: 'stale', pid, other };
}

/**
 * Makes `path` name this process, atomically: the pid is written to a file of our own, then
 * hard-linked to `path`, which fails when `path` exists, so of two workers starting at once
 * only one gets it. A pidfile naming a live process refuses the start (ConfigError: exit 2). A
 * stale one (its process gone) or a garbled one is first renamed aside (atomic too: of two
 * workers taking it over, one moves it) and checked once moved, then replaced; `onTakeOver`
 * says what was there. Returns the release, which removes the pidfile while it still names
 * this process (also run on the process's exit, whatever makes it exit).
 */
export function acquirePidfile(path: string, onTakeOver: (what: string) => void): () => void {
  const own = `${path}.${process.pid}.tmp`;
  try {
    writeFileSync(own, `${process.pid}\n`);
  } catch (error) {
    throw new ConfigError(`--pidfile ${path}: cannot write it: ${(error as Error).message}`);
  }
  try {
    for (let attempt = 0; attempt < ACQUIRE_TRIES; attempt++) {
      try {
        linkSync(own, path);
        return releaseOnExit(path);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw new ConfigError(`--pidfile ${path}: cannot write it: ${(error as Error).message}`);
      }
      const holder = readPidfile(path);
      if (holder.kind === 'live') throw refusal(path, holder.pid);
      if (holder.kind === 'missing') continue;
      const aside = `${path}.${process.pid}.stale`;
      try {
        renameSync(path, aside);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') continue;
        throw new ConfigError(`--pidfile ${path}: cannot replace it: ${(error as Error).message}`);
      }
      // What was moved may be another worker's, linked since it was read: then it goes back.
      const moved = readPidfile(aside);
      if (moved.kind === 'live') {
        try {
          linkSync(aside, path);
        } finally {
          unlinkSync(aside);
        }
        throw refusal(path, moved.pid);
      }
      unlinkSync(aside);
      onTakeOver(describeStale(moved));
    }
    throw new ConfigError(`--pidfile ${path}: it kept changing while this worker tried to take it over ${ACQUIRE_TRIES} times; is another worker starting on it?`);
  } finally {
    unlinkSync(own);
  }
}

/** What a stale or garbled pidfile named, for the log line of its takeover. */
function describeStale(holder: PidfileHolder): string {
  if (holder.kind === 'stale') return holder.other === undefined ? `process ${holder.pid}, which is not running` : `process ${holder.pid}, which is not a taskq worker (${JSON.stringify(holder.other)})`;
  return `no pid (${JSON.stringify(holder.kind === 'garbled' ? holder.content.slice(0, 40) : '')})`;
}

function refusal(path: string, pid: number): ConfigError {
  return new ConfigError(`--pidfile ${path}: worker ${pid} is running (its pid is in the pidfile); not starting a second one. Stop it first (taskq stop-worker --pidfile ${path})`);
}

/** Removes the pidfile while it names this process; once, at the latest on exit. */
function releaseOnExit(path: string): () => void {
  let released = false;
  const release = () => {
    if (released) return;
    released = true;
    process.off('exit', release);
    removePidfileOf(path, process.pid);
  };
  process.on('exit', release);
  return release;
}

/** Removes the pidfile while it names `pid` (another worker may have written its own there since). */
export function removePidfileOf(path: string, pid: number): void {
  try {
    if (pidIn(readFileSync(path, 'utf8')) === pid) unlinkSync(path);
  } catch {
    // Gone already.
  }
}
