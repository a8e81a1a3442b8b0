import { ConfigError, TaskqError } from '../../src/errors';

/**
 * pushMany could not send some messages even after retrying: the others were sent. Names the
 * tasks left out so the caller can publish them again; none is dropped silently.
 */
export class SqsSendError extends TaskqError {
  constructor(
    message: string,
    readonly failedTaskIds: readonly string[],
  ) {
    super(message);
  }
}

/** The error's SQS code, however the SDK spells it (query or JSON protocol). */
export function sqsErrorCode(error: unknown): string {
  const e = error as { name?: string; Code?: string; code?: string; __type?: string } | null;
  return String(e?.Code ?? e?.code ?? e?.__type ?? e?.name ?? '');
}

export function isMissingQueue(error: unknown): boolean {
  return /NonExistentQueue|QueueDoesNotExist/.test(sqsErrorCode(error));
}

/** A receipt that is no longer the message's latest delivery, or a message already gone. */
export function isStaleReceipt(code: string): boolean {
  return /ReceiptHandleIsInvalid|MessageNotInflight|InvalidParameterValue|InvalidReceiptHandle/.test(code);
}

/** Turns SDK errors users meet when setting up into one sentence saying what to do. */
export function explainSqsError(error: unknown, where: string): Error {
  const message = (error as Error)?.message ?? String(error);
  if (isMissingQueue(error)) return new TaskqError(`SQS queue ${where} does not exist: run \`taskq initialize-queue\` (or await dispatcher.initialize()) first`);
  const name = (error as Error)?.name ?? '';
  if (name === 'CredentialsProviderError' || /Could not load credentials/.test(message)) {
    return new ConfigError(`No AWS credentials for SQS queue ${where}: set the broker's "profile" (or AWS_PROFILE), AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or run where a role provides them (${message})`);
  }
  if (/Region is missing/i.test(message)) return new ConfigError(`No AWS region for SQS queue ${where}: set the broker's "region" or AWS_REGION`);
  return error instanceof Error ? error : new TaskqError(message);
}
