/**
 * What the bench process and its forked worker processes (peerWorker.ts) say to each other: the
 * job as the child's one argument (JSON), then messages over IPC.
 *
 *   child: ready      (connected; nothing consumed yet)
 *   parent: start     (the clock starts just before this is sent)
 *   child: started, then progress every PROGRESS_MS while its count changes
 *   parent: stop
 *   child: stopped    (its worker stopped gracefully and its connections closed; then it exits)
 */
import type { PeerVariant } from './variants';

/**
 * How often a worker process reports its count while it changes. A drain's end is found this
 * much late at most (see measures.ts); an IPC message per worker per 10 ms costs next to nothing.
 */
export const PROGRESS_MS = 10;

export interface PeerWorkerJob {
  /** The throwaway database. */
  url: string;
  variant: PeerVariant;
  concurrency: number;
  /** Record enqueue→start latency of the jobs not flagged warm-up. */
  recordLatency: boolean;
}

export type ParentMessage = { type: 'start' } | { type: 'stop' };

export type ChildMessage =
  | { type: 'ready' }
  | { type: 'started' }
  /** `ran`: jobs whose handler ran so far; `lastRanAt`: now() of the latest (0: none yet). */
  | { type: 'progress'; ran: number; lastRanAt: number }
  | { type: 'stopped'; ran: number; lastRanAt: number; latencies: number[] };

const CHILD_TYPES: ReadonlySet<string> = new Set(['ready', 'started', 'progress', 'stopped']);
const PARENT_TYPES: ReadonlySet<string> = new Set(['start', 'stop']);

function typeOf(value: unknown): string | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const type = (value as { type?: unknown }).type;
  return typeof type === 'string' ? type : undefined;
}

export function isChildMessage(value: unknown): value is ChildMessage {
  return CHILD_TYPES.has(typeOf(value) ?? '');
}

export function isParentMessage(value: unknown): value is ParentMessage {
  return PARENT_TYPES.has(typeOf(value) ?? '');
}
