export { RdsQueueBroker, type RdsQueueBrokerOptions } from './rdsQueueBroker';
export { RdsTaskLogBroker, type RdsTaskLogBrokerOptions } from './rdsTaskLogBroker';
export { parseConnection } from './connection';
