import { isDeadlock } from './rdsTaskLogBroker';

/** Tries of a write that InnoDB chose as a deadlock's victim. */
const DEADLOCK_TRIES = 5;

/**
 * Runs an insert again when MySQL/MariaDB picked it as a deadlock's victim (its gap locks meet
 * the claims' and releases' row locks on a busy messages table). InnoDB rolled the whole
 * transaction back, so trying again writes nothing twice; it is what the error itself asks for.
 */
export async function retryDeadlocks<T>(write: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await write();
    } catch (error) {
      if (!isDeadlock(error) || attempt >= DEADLOCK_TRIES) throw error;
      await new Promise((resolve) => setTimeout(resolve, 5 + Math.random() * 20 * attempt));
    }
  }
}
