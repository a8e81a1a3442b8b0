/**
 * The SQS broker at the level of its SDK calls, against the fauxqs server jest starts: which
 * commands it sends (batching, limits checked before any call), what it does with a batch
 * response that reports failed entries, delays past SQS's 15 minutes, and initialize. A real
 * SQSClient with a middleware that records every command and, when a test asks, tampers with
 * one's input and output.
 */
import {
  GetQueueAttributesCommand,
  GetQueueUrlCommand,
  type MessageAttributeValue,
  ReceiveMessageCommand,
  SendMessageCommand,
  SQSClient,
  type QueueAttributeName,
} from '@aws-sdk/client-sqs';
import { ConfigError, type OutgoingMessage, type ReceivedMessage, SqsQueueBroker, type SqsQueueBrokerOptions, SqsSendError, TaskqError } from '../../src';
import { TEST_CREDENTIALS, sqsEndpoint, uniquePrefix } from '../helpers/sqs';

jest.setTimeout(30_000);

/* eslint-disable @typescript-eslint/no-explicit-any -- SDK inputs and outputs are loosely typed in middleware */
type Tamper = (input: any, send: (input: any) => Promise<any>) => Promise<any>;

interface Call {
  name: string;
  input: any;
}

/** A client for fauxqs recording every command it sends; `tamper[name]` wraps each such call. */
class RecordingClient {
  readonly client = new SQSClient({ endpoint: sqsEndpoint(), region: 'us-east-1', credentials: TEST_CREDENTIALS });
  readonly calls: Call[] = [];
  readonly tamper = new Map<string, Tamper>();

  constructor() {
    this.client.middlewareStack.add(
      (next, context) => async (args) => {
        const name = (context.commandName ?? '?').replace(/Command$/, '');
        this.calls.push({ name, input: structuredClone(args.input) });
        const tamper = this.tamper.get(name);
        if (!tamper) return next(args);
        let result: any;
        const output = await tamper(args.input, async (input) => {
          result = await next({ ...args, input });
          return result.output;
        });
        return { ...result, output };
      },
      { step: 'initialize', name: 'taskqTestRecorder' },
    );
  }

  count(name: string): number {
    return this.calls.filter((c) => c.name === name).length;
  }

  inputs(name: string): any[] {
    return this.calls.filter((c) => c.name === name).map((c) => c.input);
  }

  reset(): void {
    this.calls.length = 0;
  }
}
/* eslint-enable @typescript-eslint/no-explicit-any */

const clients: SQSClient[] = [];
const brokers: SqsQueueBroker[] = [];

function recording(): RecordingClient {
  const r = new RecordingClient();
  clients.push(r.client);
  return r;
}

function broker(client: SQSClient | undefined, options: SqsQueueBrokerOptions = {}): SqsQueueBroker {
  const b = new SqsQueueBroker({ endpoint: sqsEndpoint(), region: 'us-east-1', credentials: TEST_CREDENTIALS, waitTimeSeconds: 0, queuePrefix: uniquePrefix(), client, ...options });
  brokers.push(b);
  return b;
}

/** A broker on a recording client, its queue `q` created, the record then cleared. */
async function setup(options: SqsQueueBrokerOptions = {}): Promise<{ sqs: RecordingClient; b: SqsQueueBroker; url: string }> {
  const sqs = recording();
  const b = broker(sqs.client, options);
  await b.createContainer('q');
  const url = await queueUrl(sqs.client, b);
  sqs.reset();
  return { sqs, b, url };
}

/** The URL of broker `b`'s queue `q` (its CreateQueue input names it). */
async function queueUrl(client: SQSClient, b: SqsQueueBroker): Promise<string> {
  const name = `${b.describe().queuePrefix ?? ''}q${b.fifo ? '.fifo' : ''}`;
  return (await client.send(new GetQueueUrlCommand({ QueueName: name }))).QueueUrl as string;
}

async function attributes(client: SQSClient, url: string, names: QueueAttributeName[] = ['All']): Promise<Record<string, string>> {
  return (await client.send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: names }))).Attributes ?? {};
}

const message = (taskId: string, body = `body of ${taskId}`, extra: Partial<OutgoingMessage> = {}): OutgoingMessage => ({ taskId, body, ...extra });

/** Receives until `n` messages came (or a few empty rounds passed). */
async function receiveAll(b: SqsQueueBroker, n: number, leaseMs = 30_000): Promise<ReceivedMessage[]> {
  const got: ReceivedMessage[] = [];
  for (let empty = 0; got.length < n && empty < 3; ) {
    const batch = await b.receive('q', 10, leaseMs);
    if (batch.length === 0) empty++;
    got.push(...batch);
  }
  return got;
}

afterEach(async () => {
  for (const b of brokers.splice(0)) await b.close();
  for (const c of clients.splice(0)) c.destroy();
});

describe('batching', () => {
  test('pushMany of 25 messages is 3 SendMessageBatch calls, every message delivered once', async () => {
    const { sqs, b } = await setup();
    const ids = Array.from({ length: 25 }, (_, i) => `task-${i}`);
    await b.pushMany('q', ids.map((id) => message(id)));
    expect(sqs.count('SendMessageBatch')).toBe(3);
    expect(sqs.inputs('SendMessageBatch').map((i) => i.Entries.length)).toEqual([10, 10, 5]);
    const got = await receiveAll(b, 25);
    expect(got.map((m) => m.taskId).sort()).toEqual([...ids].sort());
    expect(got.every((m) => m.body === `body of ${m.taskId}`)).toBe(true);
  });

  test('messages that together pass the byte limit go in more batches, and all arrive', async () => {
    const { sqs, b } = await setup({ maxMessageBytes: 2048 });
    const ids = Array.from({ length: 10 }, (_, i) => `big-${i}`);
    await b.pushMany('q', ids.map((id) => message(id, id.padEnd(600, '.'))));
    const batches = sqs.inputs('SendMessageBatch');
    // 600 bytes and the task id attribute each: three fit in 2 KiB, four do not.
    expect(batches.length).toBeGreaterThanOrEqual(4);
    for (const batch of batches) expect(batch.Entries.reduce((n: number, e: { MessageBody: string }) => n + e.MessageBody.length, 0)).toBeLessThanOrEqual(2048);
    expect(batches.flatMap((i) => i.Entries.map((e: { MessageBody: string }) => e.MessageBody.slice(0, 5)))).toEqual(ids);
    const got = await receiveAll(b, 10);
    expect(got.map((m) => m.taskId).sort()).toEqual([...ids].sort());
  });

  test('ten acknowledge() calls in one tick are one DeleteMessageBatch; each promise resolves', async () => {
    const { sqs, b } = await setup();
    await b.pushMany('q', Array.from({ length: 10 }, (_, i) => message(`ack-${i}`)));
    const got = await receiveAll(b, 10);
    expect(got).toHaveLength(10);
    sqs.reset();
    const acks = got.map((m) => b.acknowledge('q', m));
    await expect(Promise.all(acks)).resolves.toHaveLength(10);
    expect(sqs.count('DeleteMessageBatch')).toBe(1);
    expect(sqs.count('DeleteMessage')).toBe(0);
    expect(sqs.inputs('DeleteMessageBatch')[0].Entries).toHaveLength(10);
    expect(await b.count('q')).toBe(0);
  });

  test('three acknowledge() calls in one tick are one DeleteMessageBatch of three', async () => {
    const { sqs, b } = await setup();
    await b.pushMany('q', [message('a'), message('b'), message('c')]);
    const got = await receiveAll(b, 3);
    sqs.reset();
    await Promise.all(got.map((m) => b.acknowledge('q', m)));
    expect(sqs.inputs('DeleteMessageBatch').map((i) => i.Entries.length)).toEqual([3]);
    expect(await b.count('q')).toBe(0);
  });
});

describe('partial batch failures', () => {
  /** Makes the `nth` SendMessageBatch fail the entry of `taskId` (not sending it), as SQS reports it. */
  function failSend(sqs: RecordingClient, taskId: string, failure: { SenderFault: boolean; Code: string; Message: string }, nth = 1): void {
    let seen = 0;
    sqs.tamper.set('SendMessageBatch', async (input, send) => {
      if (++seen !== nth) return send(input);
      const victim = input.Entries.find((e: { MessageAttributes: Record<string, MessageAttributeValue> }) => e.MessageAttributes.taskqTaskId.StringValue === taskId);
      const output = await send({ ...input, Entries: input.Entries.filter((e: unknown) => e !== victim) });
      return { ...output, Failed: [...(output.Failed ?? []), { Id: victim.Id, ...failure }] };
    });
  }

  test('an entry SQS failed on its side (SenderFault false) is sent again: every message arrives exactly once', async () => {
    const { sqs, b } = await setup();
    const ids = ['s0', 's1', 's2', 's3', 's4'];
    failSend(sqs, 's2', { SenderFault: false, Code: 'InternalError', Message: 'try again' });
    await b.pushMany('q', ids.map((id) => message(id)));
    const calls = sqs.inputs('SendMessageBatch');
    expect(calls).toHaveLength(2);
    expect(calls[1].Entries.map((e: { MessageBody: string }) => e.MessageBody)).toEqual(['body of s2']);
    const got = await receiveAll(b, 6);
    expect(got.map((m) => m.taskId).sort()).toEqual(ids);
  });

  test.each([
    ['the first batch', 's3'],
    ['the last batch', 's23'],
  ])('an entry refused as the sender\'s fault (in %s): pushMany rejects naming exactly that task; the others were sent', async (_where, victim) => {
    const { sqs, b } = await setup();
    const ids = Array.from({ length: 25 }, (_, i) => `s${i}`);
    failSend(sqs, victim, { SenderFault: true, Code: 'InvalidMessageContents', Message: 'bad characters' }, victim === 's3' ? 1 : 3);
    const error = await b.pushMany('q', ids.map((id) => message(id))).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(SqsSendError);
    expect((error as SqsSendError).failedTaskIds).toEqual([victim]);
    expect((error as Error).message).toMatch(new RegExp(`did not take 1 of 25 messages .*${victim}: InvalidMessageContents bad characters.*the others were sent\\. Not sent: ${victim}$`));
    // Not sent again: the sender's fault would recur.
    expect(sqs.count('SendMessageBatch')).toBe(3);
    const got = await receiveAll(b, 24);
    expect(got.map((m) => m.taskId).sort()).toEqual(ids.filter((id) => id !== victim).sort());
  });

  /** Makes every DeleteMessageBatch fail the entry of `receipt` (not deleting it), as SQS reports it. */
  function failDelete(sqs: RecordingClient, receipt: string, failure: { SenderFault: boolean; Code: string; Message: string }): void {
    sqs.tamper.set('DeleteMessageBatch', async (input, send) => {
      const victim = input.Entries.find((e: { ReceiptHandle: string }) => e.ReceiptHandle === receipt);
      if (!victim) return send(input);
      const rest = input.Entries.filter((e: unknown) => e !== victim);
      const output = rest.length > 0 ? await send({ ...input, Entries: rest }) : { Successful: [] };
      return { ...output, Failed: [{ Id: victim.Id, ...failure }] };
    });
  }

  test('a delete SQS failed on its side is deleted again one by one; every acknowledge resolves', async () => {
    const { sqs, b } = await setup();
    await b.pushMany('q', [message('d0'), message('d1'), message('d2')]);
    const got = await receiveAll(b, 3);
    sqs.reset();
    failDelete(sqs, got[1].receipt, { SenderFault: false, Code: 'InternalError', Message: 'try again' });
    await Promise.all(got.map((m) => b.acknowledge('q', m)));
    expect(sqs.count('DeleteMessageBatch')).toBe(1);
    expect(sqs.inputs('DeleteMessage')).toEqual([expect.objectContaining({ ReceiptHandle: got[1].receipt })]);
    expect(await b.count('q')).toBe(0);
  });

  test('ReceiptHandleIsInvalid is taken as already settled: acknowledge resolves, nothing sent again', async () => {
    const { sqs, b } = await setup();
    await b.pushMany('q', [message('r0'), message('r1')]);
    const got = await receiveAll(b, 2);
    sqs.reset();
    failDelete(sqs, got[0].receipt, { SenderFault: true, Code: 'ReceiptHandleIsInvalid', Message: 'stale' });
    await expect(Promise.all(got.map((m) => b.acknowledge('q', m)))).resolves.toHaveLength(2);
    expect(sqs.count('DeleteMessage')).toBe(0);
  });

  test('a delete refused as the sender\'s fault for another reason rejects that acknowledge only', async () => {
    const { sqs, b } = await setup();
    await b.pushMany('q', [message('x0'), message('x1')]);
    const got = await receiveAll(b, 2);
    failDelete(sqs, got[0].receipt, { SenderFault: true, Code: 'AccessDenied', Message: 'no' });
    const [first, second] = await Promise.allSettled(got.map((m) => b.acknowledge('q', m)));
    expect(first).toMatchObject({ status: 'rejected', reason: expect.any(TaskqError) });
    expect((first as PromiseRejectedResult).reason.message).toMatch(/SQS did not delete a message of queue .*q: AccessDenied no/);
    expect(second.status).toBe('fulfilled');
  });
});

describe('delays past SQS\'s 15 minutes', () => {
  test('runAt 20 minutes ahead: sent with DelaySeconds 900 and the taskqRunAt attribute', async () => {
    const { sqs, b } = await setup();
    const runAt = Date.now() + 20 * 60_000;
    await b.push('q', message('later', 'body', { runAt }));
    const [entry] = sqs.inputs('SendMessageBatch')[0].Entries;
    expect(entry.DelaySeconds).toBe(900);
    expect(entry.MessageAttributes.taskqRunAt).toEqual({ DataType: 'Number', StringValue: String(runAt) });
    // A delay within 15 minutes needs no attribute.
    sqs.reset();
    await b.push('q', message('soon', 'body', { runAt: Date.now() + 5 * 60_000 }));
    const [soon] = sqs.inputs('SendMessageBatch')[0].Entries;
    expect(soon.DelaySeconds).toBeGreaterThan(295);
    expect(soon.DelaySeconds).toBeLessThanOrEqual(300);
    expect(soon.MessageAttributes.taskqRunAt).toBeUndefined();
    expect(await attributes(sqs.client, await queueUrl(sqs.client, b), ['ApproximateNumberOfMessagesDelayed'])).toEqual({ ApproximateNumberOfMessagesDelayed: '2' });
  });

  test('a message that comes up before its run-at time is sent again with the delay left, not delivered', async () => {
    const { sqs, b, url } = await setup();
    const runAt = Date.now() + 3_600_000;
    const attrs: Record<string, MessageAttributeValue> = { taskqTaskId: { DataType: 'String', StringValue: 'late' }, taskqRunAt: { DataType: 'Number', StringValue: String(runAt) } };
    await sqs.client.send(new SendMessageCommand({ QueueUrl: url, MessageBody: '{"late":true}', MessageAttributes: attrs }));
    sqs.reset();
    expect(await b.receive('q', 10, 5_000)).toEqual([]);
    const [again] = sqs.inputs('SendMessage');
    expect(again).toMatchObject({ QueueUrl: url, MessageBody: '{"late":true}', DelaySeconds: 900 });
    expect(again.MessageAttributes.taskqTaskId).toMatchObject(attrs.taskqTaskId);
    expect(again.MessageAttributes.taskqRunAt).toMatchObject(attrs.taskqRunAt);
    // The early copy is gone; the new one waits, delayed.
    expect(sqs.count('DeleteMessage')).toBe(1);
    expect(await attributes(sqs.client, url, ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible', 'ApproximateNumberOfMessagesDelayed'])).toEqual({
      ApproximateNumberOfMessages: '0',
      ApproximateNumberOfMessagesNotVisible: '0',
      ApproximateNumberOfMessagesDelayed: '1',
    });
    expect(await b.count('q')).toBe(1);
    // Nothing receivable, by the broker or anyone.
    expect(await b.receive('q', 10, 5_000)).toEqual([]);
    expect((await sqs.client.send(new ReceiveMessageCommand({ QueueUrl: url, WaitTimeSeconds: 0 }))).Messages ?? []).toEqual([]);
  });

  test.each([
    ['already past', -60_000],
    ['within a second', 500],
  ])('a message whose taskqRunAt is %s is delivered', async (_when, offset) => {
    const { sqs, b, url } = await setup();
    await sqs.client.send(
      new SendMessageCommand({
        QueueUrl: url,
        MessageBody: 'due',
        MessageAttributes: { taskqTaskId: { DataType: 'String', StringValue: 'due' }, taskqRunAt: { DataType: 'Number', StringValue: String(Date.now() + offset) } },
      }),
    );
    sqs.reset();
    const got = await b.receive('q', 10, 5_000);
    expect(got).toMatchObject([{ taskId: 'due', body: 'due', receiveCount: 1 }]);
    expect(sqs.count('SendMessage')).toBe(0);
  });
});

describe('limits, checked before any call', () => {
  test('a 300 KiB message is refused, naming its size, the limit and what to do', async () => {
    const sqs = recording();
    const b = broker(sqs.client);
    const error = await b.push('q', message('huge', 'x'.repeat(300 * 1024))).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as Error).message).toMatch(/^Task huge is 300\.0 KiB as an SQS message; queue .*q takes at most 256\.0 KiB\. Keep large data elsewhere \(S3, a database\) and pass its key in the task's params$/);
    // One message too big in a batch: none is sent.
    await expect(b.pushMany('q', [message('small'), message('huge', 'x'.repeat(300 * 1024))])).rejects.toThrow(ConfigError);
    expect(sqs.calls).toEqual([]);
  });

  test('maxMessageBytes 1 MiB takes it (initialize sets the queue\'s MaximumMessageSize)', async () => {
    const { sqs, b, url } = await setup({ maxMessageBytes: 1_048_576 });
    expect(await attributes(sqs.client, url, ['MaximumMessageSize'])).toEqual({ MaximumMessageSize: '1048576' });
    const body = 'y'.repeat(300 * 1024);
    await b.push('q', message('huge', body));
    const [got] = await b.receive('q', 1, 5_000);
    expect(got.taskId).toBe('huge');
    expect(got.body).toBe(body);
  });

  test.each([
    ['has space', {}, /SQS queue name "PREFIXhas space" \(queue "has space"\) is not valid: SQS takes 1 to 80 characters, letters, digits, hyphens and underscores/],
    ['has.dot', {}, /SQS queue name "PREFIXhas\.dot" \(queue "has\.dot"\) is not valid: SQS takes 1 to 80 characters, letters, digits, hyphens and underscores/],
    ['q', { queuePrefix: 'p'.repeat(80) }, /SQS queue name "p{80}q" \(queue "q"\) is not valid: SQS takes 1 to 80 characters/],
    ['q', { queuePrefix: 'p'.repeat(77), maxReceiveCount: 3 }, /SQS queue name "p{77}q-dlq" \(the dead-letter queue of queue "q"\) is not valid: SQS takes 1 to 80 characters/],
    ['q', { queuePrefix: 'p'.repeat(76), fifo: true }, /SQS queue name "p{76}q\.fifo" \(queue "q"\) is not valid: SQS takes 1 to 80 characters, letters, digits, hyphens and underscores, ending in \.fifo/],
  ])('queue %j with %j is refused, naming the SQS name and the rule', async (queue, options, pattern) => {
    const sqs = recording();
    const b = broker(sqs.client, options);
    const prefix = b.describe().queuePrefix as string;
    const expected = new RegExp(pattern.source.replace('PREFIX', prefix));
    for (const attempt of [() => b.push(queue, message('t')), () => b.receive(queue, 1, 1_000), () => b.createContainer(queue), () => b.count(queue)]) {
      const error = await attempt().catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ConfigError);
      expect((error as Error).message).toMatch(expected);
      expect((error as Error).message).toMatch(/Set the broker's queueName or queuePrefix to a name that fits$/);
    }
    expect(sqs.calls).toEqual([]);
  });

  test('an 80-character name fits when there is no dead-letter queue to name', async () => {
    const sqs = recording();
    const queuePrefix = `${uniquePrefix()}${'p'.repeat(70)}`.slice(0, 79);
    const b = broker(sqs.client, { queuePrefix });
    await b.createContainer('q');
    await b.push('q', message('long'));
    expect((await b.receive('q', 1, 5_000)).map((m) => m.taskId)).toEqual(['long']);
    await b.dropContainer('q');
  });

  test('a queueName option that does not fit is refused at construction', () => {
    expect(() => broker(undefined, { queueName: 'bad name' })).toThrow(/SQS queue name ".*bad name" \(queue "queueName"\) is not valid/);
  });

  test.each([
    [{ receive: 11 }, /sqs option receive must be an integer from 1 to 10, got 11/],
    [{ receive: 0 }, /sqs option receive must be an integer from 1 to 10, got 0/],
    [{ waitTimeSeconds: 21 }, /sqs option waitTimeSeconds must be an integer from 0 to 20, got 21/],
    [{ visibilityTimeout: -1 }, /sqs option visibilityTimeout must be an integer from 0 to 43200, got -1/],
    [{ visibilityTimeout: 1.5 }, /sqs option visibilityTimeout must be an integer from 0 to 43200, got 1\.5/],
    [{ maxReceiveCount: 0 }, /sqs option maxReceiveCount must be an integer from 1 to 1000, got 0/],
    [{ maxMessageBytes: 512 }, /sqs option maxMessageBytes must be an integer from 1024 to 1048576, got 512/],
    [{ maxMessageBytes: 2 * 1_048_576 }, /sqs option maxMessageBytes must be an integer from 1024 to 1048576/],
    [{ endpoint: 'not a url' }, /sqs option endpoint must be a URL such as http:\/\/127\.0\.0\.1:4566, got "not a url"/],
    [{ region: '' }, /sqs option region must be a non-empty string/],
    [{ queuePrefix: '' }, /sqs option queuePrefix must be a non-empty string/],
  ])('option %j is refused, naming it', (options, pattern) => {
    const sqs = recording();
    expect(() => broker(sqs.client, options as SqsQueueBrokerOptions)).toThrow(ConfigError);
    expect(() => broker(sqs.client, options as SqsQueueBrokerOptions)).toThrow(pattern);
    expect(sqs.calls).toEqual([]);
  });
});

describe('initialize', () => {
  test('createContainer twice is idempotent', async () => {
    const { sqs, b, url } = await setup();
    await b.createContainer('q');
    await b.createContainer('q');
    expect(await attributes(sqs.client, url, ['VisibilityTimeout', 'MaximumMessageSize'])).toEqual({ VisibilityTimeout: '30', MaximumMessageSize: '262144' });
    await b.push('q', message('after'));
    expect(await b.count('q')).toBe(1);
  });

  test('with maxReceiveCount: creates NAME-dlq and sets the RedrivePolicy', async () => {
    const { sqs, b, url } = await setup({ maxReceiveCount: 3 });
    const prefix = b.describe().queuePrefix as string;
    const dlqUrl = (await sqs.client.send(new GetQueueUrlCommand({ QueueName: `${prefix}q-dlq` }))).QueueUrl as string;
    const dlq = await attributes(sqs.client, dlqUrl, ['QueueArn', 'MessageRetentionPeriod']);
    expect(dlq.MessageRetentionPeriod).toBe('1209600');
    const { RedrivePolicy } = await attributes(sqs.client, url, ['RedrivePolicy']);
    expect(JSON.parse(RedrivePolicy)).toEqual({ deadLetterTargetArn: dlq.QueueArn, maxReceiveCount: 3 });
    expect(dlq.QueueArn).toMatch(new RegExp(`:${prefix}q-dlq$`));
    // Again: idempotent with the dead-letter queue too.
    await b.createContainer('q');
  });

  test('a changed visibilityTimeout (or maxReceiveCount) is set on the existing queue', async () => {
    const { sqs, b, url } = await setup({ visibilityTimeout: 30 });
    const queuePrefix = b.describe().queuePrefix as string;
    const changed = broker(sqs.client, { queuePrefix, visibilityTimeout: 45, maxReceiveCount: 4 });
    await changed.createContainer('q');
    expect(sqs.count('SetQueueAttributes')).toBe(1);
    const now = await attributes(sqs.client, url, ['VisibilityTimeout', 'RedrivePolicy']);
    expect(now.VisibilityTimeout).toBe('45');
    expect(JSON.parse(now.RedrivePolicy)).toMatchObject({ maxReceiveCount: 4 });
    // The URL found on the way is used: a push works at once.
    await changed.push('q', message('t'));
    expect(await changed.count('q')).toBe(1);
  });

  test('fifo creates NAME.fifo with FifoQueue=true', async () => {
    const { sqs, b } = await setup({ fifo: true, maxReceiveCount: 2 });
    const prefix = b.describe().queuePrefix as string;
    const url = (await sqs.client.send(new GetQueueUrlCommand({ QueueName: `${prefix}q.fifo` }))).QueueUrl as string;
    expect(await attributes(sqs.client, url, ['FifoQueue'])).toEqual({ FifoQueue: 'true' });
    const dlqUrl = (await sqs.client.send(new GetQueueUrlCommand({ QueueName: `${prefix}q-dlq.fifo` }))).QueueUrl as string;
    expect(await attributes(sqs.client, dlqUrl, ['FifoQueue'])).toEqual({ FifoQueue: 'true' });
    await b.createContainer('q');
  });

  test('dropContainer removes the queue and its dead-letter queue; twice is fine', async () => {
    const { sqs, b } = await setup({ maxReceiveCount: 2 });
    const prefix = b.describe().queuePrefix as string;
    await b.dropContainer('q');
    for (const name of [`${prefix}q`, `${prefix}q-dlq`]) {
      await expect(sqs.client.send(new GetQueueUrlCommand({ QueueName: name }))).rejects.toMatchObject({ name: expect.stringMatching(/QueueDoesNotExist|NonExistentQueue/) });
    }
    await b.dropContainer('q');
    // And it says so when used.
    await expect(b.push('q', message('t'))).rejects.toThrow(/does not exist: run `taskq initialize-queue`/);
  });
});

describe('a queue that does not exist', () => {
  test.each([
    ['receive', (b: SqsQueueBroker) => b.receive('q', 1, 1_000)],
    ['push', (b: SqsQueueBroker) => b.push('q', message('t'))],
    ['count', (b: SqsQueueBroker) => b.count('q')],
    ['acknowledge', (b: SqsQueueBroker) => b.acknowledge('q', { id: 'm', taskId: 't', body: '', receiveCount: 1, receipt: 'r' })],
  ])('%s says to run taskq initialize-queue', async (_what, act) => {
    const b = broker(undefined);
    const error = await act(b).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TaskqError);
    expect((error as Error).message).toMatch(/^SQS queue t[0-9a-f]{8}-q does not exist: run `taskq initialize-queue` \(or await dispatcher\.initialize\(\)\) first$/);
  });

  test('the URL lookup is tried again once the queue exists', async () => {
    const sqs = recording();
    const b = broker(sqs.client);
    await expect(b.push('q', message('t'))).rejects.toThrow(/does not exist/);
    const creator = broker(undefined, { queuePrefix: b.describe().queuePrefix as string });
    await creator.createContainer('q');
    await b.push('q', message('t'));
    expect(await b.count('q')).toBe(1);
  });
});

describe('secrets and the client', () => {
  test('describe() never contains credentials', () => {
    const b = broker(undefined, { credentials: { accessKeyId: 'AKIASECRETKEYID', secretAccessKey: 'very-secret-value', sessionToken: 'session-token-value' }, profile: 'dev', maxReceiveCount: 3 });
    const text = JSON.stringify(b.describe());
    expect(text).not.toMatch(/AKIASECRETKEYID|very-secret-value|session-token-value|credential/i);
    expect(b.describe()).toEqual({ type: 'sqs', receive: 10, endpoint: sqsEndpoint(), region: 'us-east-1', profile: 'dev', queuePrefix: expect.any(String), maxReceiveCount: 3, waitTimeSeconds: 0 });
  });

  test('close() leaves a client given to the broker alone', async () => {
    const sqs = recording();
    const destroy = jest.spyOn(sqs.client, 'destroy');
    const b = broker(sqs.client);
    await b.createContainer('q');
    await b.close();
    expect(destroy).not.toHaveBeenCalled();
    // Still usable, by the application and by another broker.
    const other = broker(sqs.client, { queuePrefix: b.describe().queuePrefix as string });
    await other.push('q', message('t'));
    expect(await other.count('q')).toBe(1);
  });
});
