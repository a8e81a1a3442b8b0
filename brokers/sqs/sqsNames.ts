import { ConfigError } from '../../src/errors';

/** SQS's own limit on a queue name, `.fifo` included. */
const MAX_NAME_LENGTH = 80;
const NAME_PATTERN = /^[A-Za-z0-9_-]+$/;
const FIFO_SUFFIX = '.fifo';
/** Appended to a queue's name (before `.fifo`) for its dead-letter queue. */
const DEAD_LETTER_SUFFIX = '-dlq';

/**
 * The SQS name of a taskq queue: the prefix, then the queue's own name (or the `queueName`
 * option), then `.fifo` for a FIFO queue. Checked here, before any call, so a bad name is one
 * clear error rather than an SDK fault on the first send.
 */
export function sqsQueueName(queue: string, options: { queuePrefix?: string; queueName?: string; fifo: boolean; deadLetters?: boolean }): string {
  const base = `${options.queuePrefix ?? ''}${options.queueName ?? queue}`.replace(/\.fifo$/, '');
  const name = options.fifo ? `${base}${FIFO_SUFFIX}` : base;
  checkName(name, `queue "${queue}"`, options.fifo);
  // Its dead-letter queue's name (when it has one) must fit too: say so now, not when initialize creates it.
  if (options.deadLetters) checkName(deadLetterQueueName(name, options.fifo), `the dead-letter queue of queue "${queue}"`, options.fifo);
  return name;
}

/** Whether SQS could have a queue of this name (a dead-letter queue's name may be too long to exist). */
export function isPossibleQueueName(name: string): boolean {
  return name.length <= MAX_NAME_LENGTH;
}

export function deadLetterQueueName(name: string, fifo: boolean): string {
  return fifo ? `${name.slice(0, -FIFO_SUFFIX.length)}${DEAD_LETTER_SUFFIX}${FIFO_SUFFIX}` : `${name}${DEAD_LETTER_SUFFIX}`;
}

function checkName(name: string, what: string, fifo: boolean): void {
  const base = fifo ? name.slice(0, -FIFO_SUFFIX.length) : name;
  if (!NAME_PATTERN.test(base) || name.length > MAX_NAME_LENGTH) {
    throw new ConfigError(
      `SQS queue name "${name}" (${what}) is not valid: SQS takes 1 to ${MAX_NAME_LENGTH} characters, letters, digits, hyphens and underscores${fifo ? ', ending in .fifo' : ''}. Set the broker's queueName or queuePrefix to a name that fits`,
    );
  }
}
