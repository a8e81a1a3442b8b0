/** Tries of a write that the database chose as a deadlock's victim. */
const DEADLOCK_TRIES = 5;

/** Whether the database rolled the statement's transaction back as a deadlock's victim (InnoDB, PostgreSQL). */
export const isDeadlock = (error: unknown): boolean => /Deadlock found|deadlock detected/.test(String((error as Error | undefined)?.message));

/**
 * Runs a write again when the database picked it as a deadlock's victim (on MySQL/MariaDB the
 * gap locks of inserts and deletes meet the claims' and releases' row locks on a busy messages
 * table). The victim's whole transaction was rolled back, so trying it again writes nothing
 * twice; it is what the error itself asks for. Only for a unit that is a whole transaction: one
 * statement on its own, or a transaction run from its start.
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
