import type { BrokerConfig, BrokerFactory } from '../../src/brokerFactory';
import { SqsQueueBroker, type SqsQueueBrokerOptions } from './sqsQueueBroker';

/** SQS has queues only: the task log lives elsewhere (rds). The config schema checked the options. */
export const factory: BrokerFactory = {
  queueBroker: (config: BrokerConfig) => {
    const { type: _type, ...options } = config;
    return new SqsQueueBroker(options as SqsQueueBrokerOptions);
  },
};
