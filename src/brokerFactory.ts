import { ConfigError } from './errors';
import type { QueueBroker } from './queueBroker';
import type { TaskLogBroker } from './taskLog/taskLogBroker';

/** A broker as the config file describes it: a type and that type's options. */
export interface BrokerConfig {
  type: string;
  [option: string]: unknown;
}

export interface BrokerFactory {
  queueBroker?(options: BrokerConfig): QueueBroker;
  taskLogBroker?(options: BrokerConfig): TaskLogBroker;
}

/*
 * The only place src/ reaches a concrete broker: lazily, by type, so an app that never uses SQS
 * never loads the AWS SDK. A new broker registers itself with registerBrokerType.
 */
const factories = new Map<string, () => BrokerFactory>([
  ['memory', () => require('../brokers/memory/factory').factory as BrokerFactory],
  ['rds', () => require('../brokers/rds/factory').factory as BrokerFactory],
  ['sqs', () => require('../brokers/sqs/factory').factory as BrokerFactory],
]);

export function registerBrokerType(type: string, load: () => BrokerFactory): void {
  factories.set(type, load);
}

export function brokerTypes(): string[] {
  return [...factories.keys()];
}

function factoryFor(type: unknown, where: string): BrokerFactory {
  const load = typeof type === 'string' ? factories.get(type) : undefined;
  if (!load) throw new ConfigError(`${where}.type must be one of ${brokerTypes().join(', ')}; got ${JSON.stringify(type)}`);
  return load();
}

export function createQueueBroker(config: BrokerConfig, where = 'broker'): QueueBroker {
  const factory = factoryFor(config.type, where);
  if (!factory.queueBroker) throw new ConfigError(`${where}: broker type "${config.type}" has no queue broker`);
  return located(where, () => (factory.queueBroker as NonNullable<BrokerFactory['queueBroker']>)(config));
}

export function createTaskLogBroker(config: BrokerConfig, where = 'taskLog'): TaskLogBroker {
  const factory = factoryFor(config.type, where);
  if (!factory.taskLogBroker) throw new ConfigError(`${where}: broker type "${config.type}" has no task log broker`);
  return located(where, () => (factory.taskLogBroker as NonNullable<BrokerFactory['taskLogBroker']>)(config));
}

/** A broker's own option errors, prefixed with where in the config they come from. */
function located<T>(where: string, create: () => T): T {
  try {
    return create();
  } catch (error) {
    if (error instanceof ConfigError) throw new ConfigError(`${where}: ${error.message}`);
    throw error;
  }
}
