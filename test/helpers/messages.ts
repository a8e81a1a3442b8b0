import type { TaskMessage } from '../../src/taskMessage';

/** A task message body as a producer writes it: what tests push to a broker by hand. */
export function taskMessageBody(fields: Partial<TaskMessage> & Pick<TaskMessage, 'id' | 'name'>): string {
  const message: TaskMessage = { v: 1, params: {}, label: '', owner: null, createdAt: new Date().toISOString(), parentId: null, maxAttempts: 1, timeout: null, ...fields };
  return JSON.stringify(message);
}
