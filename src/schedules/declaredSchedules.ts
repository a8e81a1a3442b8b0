import type { Logger } from '../logger';
import type { QueueDispatcher } from '../queueDispatcher';
import type { ScheduleDefinition } from './schedule';
import { Scheduler } from './scheduler';

interface Declared {
  schedules: readonly ScheduleDefinition[];
  source?: string;
}

/** The config's schedules of each dispatcher createDispatcher built (the dispatcher has no field for them). */
const declared = new WeakMap<QueueDispatcher, Declared>();

/** Records the config's `schedules` for the workers of `dispatcher` to run. */
export function declareSchedules(dispatcher: QueueDispatcher, schedules: readonly ScheduleDefinition[], source?: string): void {
  declared.set(dispatcher, { schedules, source });
}

/** The schedules the config of `dispatcher` declared (none for a dispatcher built in code). */
export function declaredSchedules(dispatcher: QueueDispatcher): readonly ScheduleDefinition[] {
  return declared.get(dispatcher)?.schedules ?? [];
}

/**
 * The scheduler a worker runs: the one it was given, or one of the schedules it was given, else
 * of its dispatcher's config; none when there are no schedules.
 */
export function schedulerFor(dispatcher: QueueDispatcher, given: readonly ScheduleDefinition[] | Scheduler | undefined, logger: Logger): Scheduler | undefined {
  if (given instanceof Scheduler) return given;
  const fromConfig = given === undefined ? declared.get(dispatcher) : undefined;
  const schedules = given ?? fromConfig?.schedules ?? [];
  return schedules.length === 0 ? undefined : new Scheduler(dispatcher, schedules, { logger, source: fromConfig?.source });
}
