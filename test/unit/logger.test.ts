import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { AbstractTask, ConfigError, Queue, QueueDispatcher, RdsQueueBroker, RdsTaskLogBroker, TaskLog, TaskStatus, Worker, createLogger, type TaskContext } from '../../src';
import { until } from '../helpers/wait';

/** Starts a terminal colour code. */
const ESC = String.fromCharCode(27);

/** A destination that keeps what is written to it; `isTTY` as a terminal would say. */
function capture(isTTY: boolean): Writable & { isTTY: boolean; text: () => string } {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer | string, _encoding, done) {
      chunks.push(chunk.toString());
      done();
    },
  });
  return Object.assign(stream, { isTTY, text: () => chunks.join('') });
}

describe('createLogger', () => {
  const saved = process.env.TASKQ_LOG_FORMAT;
  afterEach(() => {
    if (saved === undefined) delete process.env.TASKQ_LOG_FORMAT;
    else process.env.TASKQ_LOG_FORMAT = saved;
  });

  test('writes JSON lines, with the fields given, when its destination is not a terminal', () => {
    delete process.env.TASKQ_LOG_FORMAT;
    const out = capture(false);
    createLogger('info', { destination: out }).info('task done', { taskId: 't1', taskName: 'SendEmail' });
    const lines = out.text().trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0])).toMatchObject({ level: 30, msg: 'task done', taskId: 't1', taskName: 'SendEmail', pid: process.pid });
  });

  test('writes readable lines (pino-pretty), not JSON, on a terminal', () => {
    delete process.env.TASKQ_LOG_FORMAT;
    const out = capture(true);
    createLogger('info', { destination: out }).warn('lease renewal failed', { taskId: 't1' });
    const text = out.text();
    expect(() => JSON.parse(text)).toThrow();
    // Colours on a terminal: strip them to read the line.
    const plain = text.replace(new RegExp(`${ESC}\\[[0-9;]*m`, 'g'), '');
    expect(plain).toMatch(/^\[\d{2}:\d{2}:\d{2}\.\d{3}\] WARN \(\d+\): lease renewal failed \{"taskId":"t1"\}\n$/);
  });

  test('TASKQ_LOG_FORMAT forces the format either way', () => {
    process.env.TASKQ_LOG_FORMAT = 'json';
    const tty = capture(true);
    createLogger('info', { destination: tty }).info('as json');
    expect(JSON.parse(tty.text())).toMatchObject({ msg: 'as json' });

    process.env.TASKQ_LOG_FORMAT = 'pretty';
    const file = capture(false);
    createLogger('info', { destination: file }).info('as text');
    expect(file.text()).toMatch(/INFO \(\d+\): as text\n$/);
    // No colour codes where no terminal reads them.
    expect(file.text()).not.toContain(ESC);
  });

  test('an explicit format wins over TASKQ_LOG_FORMAT, and an unknown TASKQ_LOG_FORMAT is one clear error', () => {
    process.env.TASKQ_LOG_FORMAT = 'pretty';
    const out = capture(false);
    createLogger('info', { destination: out, format: 'json' }).info('explicit');
    expect(JSON.parse(out.text())).toMatchObject({ msg: 'explicit' });

    process.env.TASKQ_LOG_FORMAT = 'xml';
    expect(() => createLogger('info', { destination: capture(false) })).toThrow(ConfigError);
    expect(() => createLogger('info', { destination: capture(false) })).toThrow('TASKQ_LOG_FORMAT must be "json" or "pretty", got "xml"');
  });

  test('the level filters lines', () => {
    delete process.env.TASKQ_LOG_FORMAT;
    const out = capture(false);
    const logger = createLogger('warn', { destination: out });
    logger.info('hidden');
    logger.error('shown');
    expect(out.text().trim().split('\n').map((l) => (JSON.parse(l) as { msg: string }).msg)).toEqual(['shown']);
    expect(logger.isLevelEnabled?.('info')).toBe(false);
  });
});

class Chatty extends AbstractTask<Record<string, never>> {
  static override taskName = 'Chatty';
  run(ctx: TaskContext) {
    ctx.logger.info('halfway', { step: 1 });
    return 'said it';
  }
}

test("a task's log lines (its ctx.logger's and the worker's about it) carry taskId and taskName", async () => {
  delete process.env.TASKQ_LOG_FORMAT;
  const dir = mkdtempSync(join(tmpdir(), 'taskq-logger-'));
  const connection = `sqlite:${join(dir, 'q.db')}`;
  const out = capture(false);
  const logger = createLogger('info', { destination: out });
  const dispatcher = new QueueDispatcher({ queues: [new Queue('q', new RdsQueueBroker({ connection }))], taskLog: new TaskLog(new RdsTaskLogBroker({ connection })), tasks: [Chatty], logger });
  try {
    await dispatcher.initialize();
    const task = await dispatcher.enqueue(new Chatty({}));
    const worker = new Worker(dispatcher, { idleMaxMs: 20 });
    void worker.run();
    await until(async () => (await dispatcher.taskLog.getStatus(task.id)) === TaskStatus.Completed, 10_000, 'the task to complete');
    await worker.stop();
    const lines = out
      .text()
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    const about = lines.filter((l) => l.taskId === task.id);
    expect(about.map((l) => l.msg)).toEqual(['halfway', `Chatty ${task.id} completed in ${String(about[1]?.ms)} ms`]);
    for (const line of about) expect(line).toMatchObject({ taskId: task.id, taskName: 'Chatty' });
    expect(about[0]).toMatchObject({ step: 1 });
    expect(about[1]).toMatchObject({ status: 'completed', queue: 'q', attempt: 1 });
    expect(about.some((l) => 'task' in l)).toBe(false);
  } finally {
    await dispatcher.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
