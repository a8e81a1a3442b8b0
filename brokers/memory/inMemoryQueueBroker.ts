import type { BrokerDescription, OutgoingMessage, QueueBroker, ReceivedMessage } from '../../src/queueBroker';

export interface InMemoryQueueBrokerOptions {
  /** Run tasks inside enqueue (default). False makes a real in-process queue with leases. */
  sync?: boolean;
  /** Messages a worker receives at a time. */
  receive?: number;
}

interface StoredMessage {
  id: string;
  taskId: string;
  body: string;
  seq: number;
  visibleAt: number;
  receiveCount: number;
  /** Hidden because a consumer received it (until its lease ends), not because it is delayed. */
  leased?: boolean;
}

interface MemoryQueue {
  /** Visible messages in order; `head` skips the consumed front without shifting the array. */
  ready: StoredMessage[];
  head: number;
  /** Not visible yet (delayed, released with a delay, or leased). */
  hidden: Map<string, StoredMessage>;
  nextCheck: number;
}

/**
 * Messages in this process's memory. Sync by default: the dispatcher runs each task at enqueue
 * time and nothing is stored. With `sync: false` it is a queue with leases, for tests and for
 * workers in the same process.
 */
export class InMemoryQueueBroker implements QueueBroker {
  readonly type = 'memory';
  readonly isSync: boolean;
  readonly receiveBatchSize: number;
  readonly processLocal: boolean;
  private readonly queues = new Map<string, MemoryQueue>();
  private seq = 0;

  constructor(options: InMemoryQueueBrokerOptions = {}) {
    this.isSync = options.sync ?? true;
    this.processLocal = !this.isSync;
    this.receiveBatchSize = options.receive ?? 100;
  }

  async createContainer(queue: string): Promise<void> {
    this.queue(queue);
  }

  async dropContainer(queue: string): Promise<void> {
    this.queues.delete(queue);
  }

  async push(queue: string, message: OutgoingMessage): Promise<void> {
    this.store(this.queue(queue), message);
  }

  async pushMany(queue: string, messages: readonly OutgoingMessage[]): Promise<void> {
    const q = this.queue(queue);
    for (const message of messages) this.store(q, message);
  }

  async receive(queue: string, max: number, leaseMs: number): Promise<ReceivedMessage[]> {
    const q = this.queue(queue);
    const now = Date.now();
    this.reveal(q, now);
    const out: ReceivedMessage[] = [];
    while (out.length < max && q.head < q.ready.length) {
      const stored = q.ready[q.head++];
      stored.receiveCount++;
      stored.visibleAt = now + leaseMs;
      stored.leased = true;
      q.hidden.set(stored.id, stored);
      q.nextCheck = Math.min(q.nextCheck, stored.visibleAt);
      out.push({ id: stored.id, taskId: stored.taskId, body: stored.body, receiveCount: stored.receiveCount, receipt: `${stored.id}:${stored.receiveCount}` });
    }
    if (q.head > 1024 && q.head * 2 > q.ready.length) {
      q.ready = q.ready.slice(q.head);
      q.head = 0;
    }
    return out;
  }

  async acknowledge(queue: string, message: ReceivedMessage): Promise<void> {
    const q = this.queue(queue);
    if (this.holds(q, message)) q.hidden.delete(message.id);
  }

  async extendLease(queue: string, messages: readonly ReceivedMessage[], leaseMs: number): Promise<void> {
    const q = this.queue(queue);
    const until = Date.now() + leaseMs;
    for (const message of messages) {
      const stored = q.hidden.get(message.id);
      // Only a message still leased: one released meanwhile (with its retry backoff) stays released.
      if (stored?.leased && this.holds(q, message)) stored.visibleAt = until;
    }
  }

  async release(queue: string, message: ReceivedMessage, delayMs: number): Promise<void> {
    const q = this.queue(queue);
    if (!this.holds(q, message)) return;
    const stored = q.hidden.get(message.id) as StoredMessage;
    stored.visibleAt = Date.now() + delayMs;
    stored.leased = false;
    if (delayMs <= 0) {
      q.hidden.delete(stored.id);
      this.insertReady(q, stored);
    } else {
      q.nextCheck = Math.min(q.nextCheck, stored.visibleAt);
    }
  }

  async count(queue: string): Promise<number> {
    const q = this.queue(queue);
    return q.ready.length - q.head + q.hidden.size;
  }

  async countLeased(queue: string): Promise<number> {
    const q = this.queue(queue);
    const now = Date.now();
    let leased = 0;
    for (const stored of q.hidden.values()) if (stored.leased && stored.visibleAt > now) leased++;
    return leased;
  }

  async holdsTasks(queue: string, taskIds: readonly string[]): Promise<Set<string>> {
    const wanted = new Set(taskIds);
    const found = new Set<string>();
    const q = this.queues.get(queue);
    if (!q) return found;
    for (let i = q.head; i < q.ready.length; i++) if (wanted.has(q.ready[i].taskId)) found.add(q.ready[i].taskId);
    for (const stored of q.hidden.values()) if (wanted.has(stored.taskId)) found.add(stored.taskId);
    return found;
  }

  async purge(queue: string): Promise<number> {
    const count = await this.count(queue);
    this.queues.set(queue, emptyQueue());
    return count;
  }

  async removeTasks(queue: string, taskIds: readonly string[]): Promise<number> {
    const q = this.queues.get(queue);
    if (!q) return 0;
    const doomed = new Set(taskIds);
    const before = q.ready.length - q.head + q.hidden.size;
    q.ready = q.ready.slice(q.head).filter((stored) => !doomed.has(stored.taskId));
    q.head = 0;
    for (const [id, stored] of q.hidden) if (doomed.has(stored.taskId)) q.hidden.delete(id);
    return before - (q.ready.length + q.hidden.size);
  }

  describe(): BrokerDescription {
    return { type: this.type, sync: this.isSync, receive: this.receiveBatchSize };
  }

  async close(): Promise<void> {
    this.queues.clear();
  }

  /** True while `message` is the latest delivery of a message still hidden (leased). */
  private holds(q: MemoryQueue, message: ReceivedMessage): boolean {
    const stored = q.hidden.get(message.id);
    return stored !== undefined && message.receipt === `${stored.id}:${stored.receiveCount}`;
  }

  private queue(name: string): MemoryQueue {
    let q = this.queues.get(name);
    if (!q) {
      q = emptyQueue();
      this.queues.set(name, q);
    }
    return q;
  }

  private store(q: MemoryQueue, message: OutgoingMessage): void {
    const now = Date.now();
    const stored: StoredMessage = { id: String(++this.seq), taskId: message.taskId, body: message.body, seq: this.seq, visibleAt: message.runAt ?? now, receiveCount: 0 };
    if (stored.visibleAt > now) {
      q.hidden.set(stored.id, stored);
      q.nextCheck = Math.min(q.nextCheck, stored.visibleAt);
    } else {
      q.ready.push(stored);
    }
  }

  /** Moves hidden messages whose time has come back to the ready list, in their original order. */
  private reveal(q: MemoryQueue, now: number): void {
    if (now < q.nextCheck) return;
    let next = Infinity;
    const due: StoredMessage[] = [];
    for (const stored of q.hidden.values()) {
      if (stored.visibleAt <= now) due.push(stored);
      else next = Math.min(next, stored.visibleAt);
    }
    q.nextCheck = next;
    due.sort((a, b) => a.seq - b.seq);
    for (const stored of due) {
      q.hidden.delete(stored.id);
      stored.leased = false;
      this.insertReady(q, stored);
    }
  }

  private insertReady(q: MemoryQueue, stored: StoredMessage): void {
    const ready = q.ready;
    let i = ready.length;
    while (i > q.head && ready[i - 1].seq > stored.seq) i--;
    ready.splice(i, 0, stored);
  }
}

function emptyQueue(): MemoryQueue {
  return { ready: [], head: 0, hidden: new Map(), nextCheck: Infinity };
}
