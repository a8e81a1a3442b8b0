import type { Message, MessageAttributeValue, SQSClient, SQSClientConfig } from '@aws-sdk/client-sqs';
import { ConfigError, TaskqError } from '../../src/errors';
import type { BrokerDescription, OutgoingMessage, QueueBroker, ReceiveOptions, ReceivedMessage } from '../../src/queueBroker';
import { CallBatcher } from '../../src/callBatcher';
import { MAX_BATCH_ENTRIES, chunks, splitBatches } from './sqsBatches';
import { SqsSendError, explainSqsError, isMissingQueue, isStaleReceipt, sqsErrorCode } from './sqsErrors';
import { deadLetterQueueName, isPossibleQueueName, sqsQueueName } from './sqsNames';

type Sdk = typeof import('@aws-sdk/client-sqs');
let sdk: Sdk | undefined;
/** The AWS SDK is loaded with the first SQS broker, never by an app that does not use one. */
function loadSdk(): Sdk {
  sdk ??= require('@aws-sdk/client-sqs') as Sdk;
  return sdk;
}

export interface SqsQueueBrokerOptions {
  /** AWS region; else AWS_REGION or the profile's, else us-east-1 when `endpoint` is set. */
  region?: string;
  /** An SQS-compatible server (fauxqs, LocalStack, ElasticMQ); else AWS_ENDPOINT_URL_SQS or AWS's own. */
  endpoint?: string;
  /** A named profile of the shared AWS config; credentials otherwise come from the standard chain. */
  profile?: string;
  /** Credentials from code (or a provider), for callers that do not use the chain. Never logged. */
  credentials?: SQSClientConfig['credentials'];
  /** Prepended to every queue's name (`prod-` makes `prod-standard`). */
  queuePrefix?: string;
  /** The SQS name of the one queue this broker serves, when it differs from the taskq name. */
  queueName?: string;
  /** Messages a worker receives at a time, 1–10 (default 10). */
  receive?: number;
  /** Long polling: how long a worker's receive waits for a message, 0–20 s (default 20). */
  waitTimeSeconds?: number;
  /** The queue's default visibility timeout, set by initialize (default 30 s); workers lease by their leaseMs. */
  visibilityTimeout?: number;
  /** FIFO queues: names end in `.fifo`; messages of one group are delivered in order. */
  fifo?: boolean;
  /** With it, initialize creates a dead-letter queue (`NAME-dlq`) that takes a message received this many times. */
  maxReceiveCount?: number;
  /** The largest message accepted, 1 KiB – 1 MiB (default 256 KiB); also the queue's MaximumMessageSize. */
  maxMessageBytes?: number;
  /** Attempts per SDK call, throttling and network faults included (default 5, adaptive back-off). */
  maxAttempts?: number;
  /** A client of your own; the options above that configure one are then ignored. */
  client?: SQSClient;
}

interface SqsQueue {
  name: string;
  url?: Promise<string>;
  deletes: CallBatcher<string, undefined>;
}

/** SQS's limits. */
const MAX_DELAY_SECONDS = 900;
const MAX_VISIBILITY_SECONDS = 43_200;
const DEAD_LETTER_RETENTION_SECONDS = 1_209_600;
/** SendMessageBatch calls one pushMany has under way at once, on a standard queue. */
const SEND_CONCURRENCY = 4;
/** A message postponed to its run-at time comes back within this much of it. */
const RUN_AT_SLACK_MS = 1_000;
/** How long a dead-letter sweep hides the messages it read, so one sweep reads each once. */
const DEAD_LETTER_PEEK_SECONDS = 30;

const TASK_ID_ATTRIBUTE = 'taskqTaskId';
const RUN_AT_ATTRIBUTE = 'taskqRunAt';

interface NotSent {
  taskId: string;
  reason: string;
}

interface SendEntry {
  message: OutgoingMessage;
  delaySeconds: number;
  attributes: Record<string, MessageAttributeValue>;
  bytes: number;
}

/**
 * Queues on AWS SQS (or a compatible server). A lease is the message's visibility timeout, kept
 * up by the worker with ChangeMessageVisibility; acknowledgements are batched (DeleteMessageBatch)
 * and so are sends (SendMessageBatch). SQS delays at most 15 minutes: a message due later carries
 * its run-at time and is sent again with the remaining delay each time it comes up early.
 */
export class SqsQueueBroker implements QueueBroker {
  readonly type = 'sqs';
  readonly isSync = false;
  readonly receiveBatchSize: number;
  readonly maxReceives?: number;
  readonly longPolls: boolean;
  readonly fifo: boolean;
  private readonly client: SQSClient;
  private readonly ownsClient: boolean;
  private readonly waitTimeSeconds: number;
  private readonly visibilityTimeout: number;
  private readonly maxMessageBytes: number;
  private readonly queues = new Map<string, SqsQueue>();

  constructor(private readonly options: SqsQueueBrokerOptions = {}) {
    this.receiveBatchSize = integerIn('receive', options.receive, 1, 10, 10);
    this.waitTimeSeconds = integerIn('waitTimeSeconds', options.waitTimeSeconds, 0, 20, 20);
    this.longPolls = this.waitTimeSeconds > 0;
    this.visibilityTimeout = integerIn('visibilityTimeout', options.visibilityTimeout, 0, MAX_VISIBILITY_SECONDS, 30);
    this.maxMessageBytes = integerIn('maxMessageBytes', options.maxMessageBytes, 1_024, 1_048_576, 262_144);
    if (options.maxReceiveCount !== undefined) this.maxReceives = integerIn('maxReceiveCount', options.maxReceiveCount, 1, 1_000, 0);
    this.fifo = options.fifo ?? false;
    for (const key of ['region', 'endpoint', 'profile', 'queuePrefix', 'queueName'] as const) {
      if (options[key] !== undefined && (typeof options[key] !== 'string' || options[key] === '')) throw new ConfigError(`sqs option ${key} must be a non-empty string`);
    }
    if (options.endpoint !== undefined && !URL.canParse(options.endpoint)) throw new ConfigError(`sqs option endpoint must be a URL such as http://127.0.0.1:4566, got ${JSON.stringify(options.endpoint)}`);
    if (options.queueName !== undefined) sqsQueueName('queueName', this.nameOptions());
    this.ownsClient = options.client === undefined;
    this.client = options.client ?? this.createClient();
  }

  private createClient(): SQSClient {
    const { SQSClient } = loadSdk();
    const { region, endpoint, profile, credentials } = this.options;
    const endpointSet = endpoint !== undefined || process.env.AWS_ENDPOINT_URL_SQS !== undefined || process.env.AWS_ENDPOINT_URL !== undefined;
    return new SQSClient({
      // A local server needs some region to sign with; AWS itself needs the user's.
      region: region ?? (endpointSet && !process.env.AWS_REGION && !process.env.AWS_DEFAULT_REGION && !profile && !process.env.AWS_PROFILE ? 'us-east-1' : undefined),
      endpoint,
      profile,
      credentials,
      maxAttempts: integerIn('maxAttempts', this.options.maxAttempts, 1, 20, 5),
      // Adaptive: on throttling the client also slows its own sending, not only retries.
      retryMode: 'adaptive',
      // A long poll holds the request for waitTimeSeconds: the timeout leaves it room.
      requestHandler: { connectionTimeout: 5_000, requestTimeout: (this.waitTimeSeconds + 15) * 1_000 },
    });
  }

  private nameOptions(): { queuePrefix?: string; queueName?: string; fifo: boolean; deadLetters: boolean } {
    return { queuePrefix: this.options.queuePrefix, queueName: this.options.queueName, fifo: this.options.fifo ?? false, deadLetters: this.options.maxReceiveCount !== undefined };
  }

  /** The queue's SQS name, checked once (a bad name fails before any call). */
  private queue(queue: string): SqsQueue {
    let q = this.queues.get(queue);
    if (!q) {
      const name = sqsQueueName(queue, this.nameOptions());
      const state: SqsQueue = { name, deletes: new CallBatcher((receipts) => this.deleteBatch(state, receipts), MAX_BATCH_ENTRIES) };
      q = state;
      this.queues.set(queue, q);
    }
    return q;
  }

  /** The queue's URL, looked up once; a failed lookup is tried again next time. */
  private url(q: SqsQueue): Promise<string> {
    if (!q.url) {
      const { GetQueueUrlCommand } = loadSdk();
      q.url = this.call(q.name, () => this.client.send(new GetQueueUrlCommand({ QueueName: q.name }))).then((out) => out.QueueUrl as string);
      q.url.catch(() => (q.url = undefined));
    }
    return q.url;
  }

  private async call<T>(name: string, send: () => Promise<T>): Promise<T> {
    try {
      return await send();
    } catch (error) {
      throw explainSqsError(error, name);
    }
  }

  async createContainer(queue: string): Promise<void> {
    const q = this.queue(queue);
    const attributes: Record<string, string> = {
      VisibilityTimeout: String(this.visibilityTimeout),
      MaximumMessageSize: String(this.maxMessageBytes),
    };
    if (this.fifo) attributes.FifoQueue = 'true';
    if (this.maxReceives !== undefined) {
      const deadLetters = deadLetterQueueName(q.name, this.fifo);
      const dlqUrl = await this.createQueue(deadLetters, { ...(this.fifo ? { FifoQueue: 'true' } : {}), MessageRetentionPeriod: String(DEAD_LETTER_RETENTION_SECONDS), MaximumMessageSize: String(this.maxMessageBytes) });
      const { GetQueueAttributesCommand } = loadSdk();
      const out = await this.call(deadLetters, () => this.client.send(new GetQueueAttributesCommand({ QueueUrl: dlqUrl, AttributeNames: ['QueueArn'] })));
      attributes.RedrivePolicy = JSON.stringify({ deadLetterTargetArn: out.Attributes?.QueueArn, maxReceiveCount: this.maxReceives });
    }
    q.url = Promise.resolve(await this.createQueue(q.name, attributes));
  }

  /** CreateQueue; a queue that exists with other attributes gets them set (initialize is idempotent). */
  private async createQueue(name: string, attributes: Record<string, string>): Promise<string> {
    const { CreateQueueCommand, GetQueueUrlCommand, SetQueueAttributesCommand } = loadSdk();
    try {
      const out = await this.client.send(new CreateQueueCommand({ QueueName: name, Attributes: attributes }));
      return out.QueueUrl as string;
    } catch (error) {
      if (!/QueueNameExists|QueueAlreadyExists/.test(sqsErrorCode(error))) throw explainSqsError(error, name);
    }
    const url = (await this.call(name, () => this.client.send(new GetQueueUrlCommand({ QueueName: name })))).QueueUrl as string;
    const { FifoQueue: _fifo, ...settable } = attributes;
    await this.call(name, () => this.client.send(new SetQueueAttributesCommand({ QueueUrl: url, Attributes: settable })));
    return url;
  }

  async dropContainer(queue: string): Promise<void> {
    const q = this.queue(queue);
    const { DeleteQueueCommand, GetQueueUrlCommand } = loadSdk();
    // The dead-letter queue too, if an earlier initialize (with maxReceiveCount) made one.
    for (const name of [q.name, deadLetterQueueName(q.name, this.fifo)].filter(isPossibleQueueName)) {
      try {
        const { QueueUrl } = await this.client.send(new GetQueueUrlCommand({ QueueName: name }));
        await this.client.send(new DeleteQueueCommand({ QueueUrl }));
      } catch (error) {
        if (!isMissingQueue(error)) throw explainSqsError(error, name);
      }
    }
    q.url = undefined;
  }

  push(queue: string, message: OutgoingMessage): Promise<void> {
    return this.pushMany(queue, [message]);
  }

  async pushMany(queue: string, messages: readonly OutgoingMessage[]): Promise<void> {
    const q = this.queue(queue);
    // Every message is checked before the first is sent: a batch either fits or nothing goes.
    const entries = messages.map((message) => this.sendEntry(q, message));
    if (entries.length === 0) return;
    const url = await this.url(q);
    const failed: NotSent[] = [];
    const batches = splitBatches(entries, (e) => e.bytes, this.maxMessageBytes);
    // A FIFO queue keeps the order of sends: one batch after another. A standard queue promises
    // no order, so a few batches go at once (a big enqueueMany waits for round trips, not CPU).
    const inFlight = this.fifo ? 1 : SEND_CONCURRENCY;
    let next = 0;
    const sender = async (): Promise<void> => {
      while (next < batches.length) {
        const batch = batches[next++];
        failed.push(...(await this.sendBatch(q, url, batch)));
      }
    };
    await Promise.all(Array.from({ length: Math.min(inFlight, batches.length) }, sender));
    if (failed.length > 0) {
      const ids = failed.map((f) => f.taskId);
      throw new SqsSendError(`SQS did not take ${ids.length} of ${entries.length} messages for queue ${q.name} (${failed.map((f) => `${f.taskId}: ${f.reason}`).join('; ')}); the others were sent. Not sent: ${ids.join(', ')}`, ids);
    }
  }

  private sendEntry(q: SqsQueue, message: OutgoingMessage): SendEntry {
    const attributes: Record<string, MessageAttributeValue> = { [TASK_ID_ATTRIBUTE]: { DataType: 'String', StringValue: message.taskId } };
    let delaySeconds = 0;
    const delayMs = message.runAt === undefined ? 0 : message.runAt - Date.now();
    if (delayMs > 0) {
      if (this.fifo) {
        throw new ConfigError(`SQS FIFO queue ${q.name} cannot delay a single message (task ${message.taskId}): SQS takes delays only per queue there, and holding the message back would hold up its whole group. Enqueue it without a delay, or on a standard queue`);
      }
      delaySeconds = Math.min(MAX_DELAY_SECONDS, Math.ceil(delayMs / 1_000));
      if (delayMs > MAX_DELAY_SECONDS * 1_000) attributes[RUN_AT_ATTRIBUTE] = { DataType: 'Number', StringValue: String(message.runAt) };
    }
    const bytes = Buffer.byteLength(message.body) + Object.entries(attributes).reduce((sum, [name, value]) => sum + Buffer.byteLength(name) + Buffer.byteLength(value.DataType ?? '') + Buffer.byteLength(value.StringValue ?? ''), 0);
    if (bytes > this.maxMessageBytes) {
      throw new ConfigError(
        `Task ${message.taskId} is ${kib(bytes)} as an SQS message; queue ${q.name} takes at most ${kib(this.maxMessageBytes)}. Keep large data elsewhere (S3, a database) and pass its key in the task's params`,
      );
    }
    return { message, delaySeconds, attributes, bytes };
  }

  /**
   * One SendMessageBatch; entries SQS failed on its side (not the sender's fault) are sent again,
   * up to three rounds. Returns those not sent, and why.
   */
  private async sendBatch(q: SqsQueue, url: string, batch: SendEntry[]): Promise<NotSent[]> {
    const { SendMessageBatchCommand } = loadSdk();
    let pending = batch;
    const notSent: NotSent[] = [];
    for (let round = 0; pending.length > 0; round++) {
      const out = await this.call(q.name, () =>
        this.client.send(
          new SendMessageBatchCommand({
            QueueUrl: url,
            Entries: pending.map((e, i) => ({
              Id: String(i),
              MessageBody: e.message.body,
              MessageAttributes: e.attributes,
              ...(e.delaySeconds > 0 ? { DelaySeconds: e.delaySeconds } : {}),
              ...(this.fifo ? { MessageGroupId: e.message.groupId ?? 'default', MessageDeduplicationId: deduplicationId(e.message) } : {}),
            })),
          }),
        ),
      );
      const again: SendEntry[] = [];
      for (const failure of out.Failed ?? []) {
        const entry = pending[Number(failure.Id)];
        if (!failure.SenderFault && round < 2) again.push(entry);
        else notSent.push({ taskId: entry.message.taskId, reason: `${failure.Code ?? 'error'} ${failure.Message ?? ''}`.trim() });
      }
      if (again.length > 0) await new Promise((resolve) => setTimeout(resolve, 100 * 2 ** round));
      pending = again;
    }
    return notSent;
  }

  async receive(queue: string, max: number, leaseMs: number, options: ReceiveOptions = {}): Promise<ReceivedMessage[]> {
    const q = this.queue(queue);
    const url = await this.url(q);
    if (options.signal?.aborted) return [];
    const { ReceiveMessageCommand } = loadSdk();
    let messages: Message[];
    try {
      const out = await this.client.send(
        new ReceiveMessageCommand({
          QueueUrl: url,
          MaxNumberOfMessages: Math.max(1, Math.min(10, max)),
          VisibilityTimeout: visibilitySeconds(leaseMs),
          WaitTimeSeconds: Math.min(this.waitTimeSeconds, Math.floor((options.waitMs ?? 0) / 1_000)),
          MessageSystemAttributeNames: ['ApproximateReceiveCount', 'MessageGroupId'],
          MessageAttributeNames: [TASK_ID_ATTRIBUTE, RUN_AT_ATTRIBUTE],
        }),
        { abortSignal: options.signal },
      );
      messages = out.Messages ?? [];
    } catch (error) {
      // A stopping worker cut its long poll short: nothing was received.
      if (options.signal?.aborted) return [];
      throw explainSqsError(error, q.name);
    }
    const received: ReceivedMessage[] = [];
    for (const m of messages) {
      const runAt = Number(m.MessageAttributes?.[RUN_AT_ATTRIBUTE]?.StringValue);
      if (runAt - Date.now() > RUN_AT_SLACK_MS) {
        await this.postpone(q, url, m, runAt);
        continue;
      }
      received.push({
        id: m.MessageId as string,
        taskId: m.MessageAttributes?.[TASK_ID_ATTRIBUTE]?.StringValue ?? null,
        body: m.Body ?? '',
        receiveCount: Number(m.Attributes?.ApproximateReceiveCount ?? 1),
        receipt: m.ReceiptHandle as string,
        ...(m.Attributes?.MessageGroupId ? { groupId: m.Attributes.MessageGroupId } : {}),
      });
    }
    return received;
  }

  /**
   * A message due more than 15 minutes after it was sent came up early: sent again with the
   * delay left (at most 15 minutes more), then the early copy deleted. A crash in between leaves
   * two copies; the task log runs the task once.
   */
  private async postpone(q: SqsQueue, url: string, m: Message, runAt: number): Promise<void> {
    const { SendMessageCommand, DeleteMessageCommand } = loadSdk();
    await this.call(q.name, () =>
      this.client.send(
        new SendMessageCommand({
          QueueUrl: url,
          MessageBody: m.Body,
          MessageAttributes: m.MessageAttributes,
          DelaySeconds: Math.min(MAX_DELAY_SECONDS, Math.ceil((runAt - Date.now()) / 1_000)),
        }),
      ),
    );
    await this.call(q.name, () => this.client.send(new DeleteMessageCommand({ QueueUrl: url, ReceiptHandle: m.ReceiptHandle })));
  }

  async acknowledge(queue: string, message: ReceivedMessage): Promise<void> {
    await this.queue(queue).deletes.add(message.receipt);
  }

  /** One DeleteMessageBatch; SQS-side failures are deleted again one by one. */
  private async deleteBatch(q: SqsQueue, receipts: string[]): Promise<Array<Error | undefined>> {
    const { DeleteMessageBatchCommand, DeleteMessageCommand } = loadSdk();
    const url = await this.url(q);
    const out = await this.call(q.name, () => this.client.send(new DeleteMessageBatchCommand({ QueueUrl: url, Entries: receipts.map((r, i) => ({ Id: String(i), ReceiptHandle: r })) })));
    const failed: Array<Error | undefined> = receipts.map(() => undefined);
    for (const failure of out.Failed ?? []) {
      const i = Number(failure.Id);
      const code = failure.Code ?? '';
      // A stale receipt: the message was delivered again since; its newer holder settles it.
      if (isStaleReceipt(code)) continue;
      if (failure.SenderFault) {
        failed[i] = new TaskqError(`SQS did not delete a message of queue ${q.name}: ${code} ${failure.Message ?? ''}`.trim());
        continue;
      }
      try {
        await this.client.send(new DeleteMessageCommand({ QueueUrl: url, ReceiptHandle: receipts[i] }));
      } catch (error) {
        if (!isStaleReceipt(sqsErrorCode(error))) failed[i] = explainSqsError(error, q.name);
      }
    }
    return failed;
  }

  async extendLease(queue: string, messages: readonly ReceivedMessage[], leaseMs: number): Promise<void> {
    const q = this.queue(queue);
    const url = await this.url(q);
    const { ChangeMessageVisibilityBatchCommand } = loadSdk();
    // Entries that fail are messages no longer ours (delivered again, or deleted): nothing to keep.
    for (const batch of chunks(messages)) {
      await this.call(q.name, () =>
        this.client.send(
          new ChangeMessageVisibilityBatchCommand({
            QueueUrl: url,
            Entries: batch.map((m, i) => ({ Id: String(i), ReceiptHandle: m.receipt, VisibilityTimeout: visibilitySeconds(leaseMs) })),
          }),
        ),
      );
    }
  }

  async release(queue: string, message: ReceivedMessage, delayMs: number): Promise<void> {
    const q = this.queue(queue);
    const url = await this.url(q);
    const { ChangeMessageVisibilityCommand } = loadSdk();
    try {
      // Made visible again after the delay, by SQS's clock; SQS keeps a message hidden at most 12 hours.
      await this.client.send(new ChangeMessageVisibilityCommand({ QueueUrl: url, ReceiptHandle: message.receipt, VisibilityTimeout: Math.min(MAX_VISIBILITY_SECONDS, Math.ceil(delayMs / 1_000)) }));
    } catch (error) {
      if (!isStaleReceipt(sqsErrorCode(error))) throw explainSqsError(error, q.name);
    }
  }

  async deadLetteredTaskIds(queue: string, max: number): Promise<string[]> {
    if (this.maxReceives === undefined) return [];
    const name = deadLetterQueueName(this.queue(queue).name, this.fifo);
    const { GetQueueUrlCommand, ReceiveMessageCommand } = loadSdk();
    const { QueueUrl } = await this.call(name, () => this.client.send(new GetQueueUrlCommand({ QueueName: name })));
    const ids: string[] = [];
    while (ids.length < max) {
      const out = await this.call(name, () =>
        this.client.send(new ReceiveMessageCommand({ QueueUrl, MaxNumberOfMessages: Math.min(10, max - ids.length), VisibilityTimeout: DEAD_LETTER_PEEK_SECONDS, MessageAttributeNames: [TASK_ID_ATTRIBUTE] })),
      );
      if (!out.Messages?.length) break;
      for (const m of out.Messages) {
        const id = m.MessageAttributes?.[TASK_ID_ATTRIBUTE]?.StringValue;
        if (id) ids.push(id);
      }
    }
    return ids;
  }

  private async attributes(queue: string, names: ('ApproximateNumberOfMessages' | 'ApproximateNumberOfMessagesNotVisible' | 'ApproximateNumberOfMessagesDelayed')[]): Promise<number> {
    const q = this.queue(queue);
    const url = await this.url(q);
    const { GetQueueAttributesCommand } = loadSdk();
    const out = await this.call(q.name, () => this.client.send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: names })));
    return names.reduce((sum, name) => sum + Number(out.Attributes?.[name] ?? 0), 0);
  }

  /** SQS's approximate counts (exact on a quiet queue, eventually consistent on a busy one). */
  count(queue: string): Promise<number> {
    return this.attributes(queue, ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible', 'ApproximateNumberOfMessagesDelayed']);
  }

  /** In flight: received and not deleted, including messages released with a delay (SQS keeps them in flight). */
  countLeased(queue: string): Promise<number> {
    return this.attributes(queue, ['ApproximateNumberOfMessagesNotVisible']);
  }

  /** PurgeQueue (SQS allows one per queue per minute); returns how many messages it held. */
  async purge(queue: string): Promise<number> {
    const count = await this.count(queue);
    const q = this.queue(queue);
    const url = await this.url(q);
    const { PurgeQueueCommand } = loadSdk();
    try {
      await this.client.send(new PurgeQueueCommand({ QueueUrl: url }));
    } catch (error) {
      if (/PurgeQueueInProgress/.test(sqsErrorCode(error))) throw new TaskqError(`SQS queue ${q.name} was purged less than a minute ago; SQS allows one purge a minute: try again shortly`);
      throw explainSqsError(error, q.name);
    }
    return count;
  }

  describe(): BrokerDescription {
    const { region, endpoint, profile, queuePrefix, queueName, fifo, maxReceiveCount, visibilityTimeout, waitTimeSeconds, maxMessageBytes } = this.options;
    const description: BrokerDescription = { type: 'sqs', receive: this.receiveBatchSize };
    for (const [key, value] of Object.entries({ region, endpoint, profile, queuePrefix, queueName, fifo, maxReceiveCount, visibilityTimeout, waitTimeSeconds, maxMessageBytes })) {
      if (value !== undefined) description[key] = value;
    }
    return description;
  }

  async close(): Promise<void> {
    if (this.ownsClient) this.client.destroy();
  }
}

/** A lease as a visibility timeout: whole seconds, at least one, at most SQS's 12 hours. */
function visibilitySeconds(leaseMs: number): number {
  return Math.max(1, Math.min(MAX_VISIBILITY_SECONDS, Math.ceil(leaseMs / 1_000)));
}

/**
 * FIFO deduplication: by task id, so an SDK retry of a send that went through is dropped; a
 * message the caller marks as a new publish of the task (a move, a rerun) gets one of its own.
 */
function deduplicationId(message: OutgoingMessage): string {
  const id = message.deduplicationId ?? message.taskId;
  // SQS takes up to 128 characters of printable ASCII.
  return /^[!-~]{1,128}$/.test(id) ? id : Buffer.from(id).toString('base64url').slice(0, 128);
}

function integerIn(name: string, value: number | undefined, min: number, max: number, fallback: number): number {
  if (value === undefined) return fallback;
  if (!Number.isInteger(value) || value < min || value > max) throw new ConfigError(`sqs option ${name} must be an integer from ${min} to ${max}, got ${JSON.stringify(value)}`);
  return value;
}

function kib(bytes: number): string {
  return `${(bytes / 1024).toFixed(1)} KiB`;
}
