/**
 * What the worker-memory run (workerMemory.ts) and its worker process (memoryWorker.ts) say to
 * each other: the job as the child's one argument (JSON), then messages over IPC.
 *
 *   child: ready (connected), then after the parent's start: progress every PROGRESS_MS while its
 *          count changes, and a sample every `sampleEvery` tasks (and one before the first)
 *   parent: stop (once every task ran)
 *   child: stopped (its worker stopped gracefully, connections closed; then it exits)
 */
import type { MemorySample } from './report';
import type { TaskqSettings } from './variants';

export const MEMORY_PROGRESS_MS = 100;

export interface MemoryWorkerJob {
  url: string;
  settings: TaskqSettings;
  concurrency: number;
  /** Take a sample each time this many more tasks have run. */
  sampleEvery: number;
}

export type MemoryParentMessage = { type: 'start' } | { type: 'stop' };

export type MemoryChildMessage =
  | { type: 'ready' }
  | { type: 'progress'; ran: number }
  | { type: 'sample'; sample: MemorySample }
  | { type: 'stopped'; ran: number };

function typeOf(value: unknown): string | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const type = (value as { type?: unknown }).type;
  return typeof type === 'string' ? type : undefined;
}

export function isMemoryChildMessage(value: unknown): value is MemoryChildMessage {
  return ['ready', 'progress', 'sample', 'stopped'].includes(typeOf(value) ?? '');
}

export function isMemoryParentMessage(value: unknown): value is MemoryParentMessage {
  return ['start', 'stop'].includes(typeOf(value) ?? '');
}
