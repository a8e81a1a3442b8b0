export { InMemoryQueueBroker, type InMemoryQueueBrokerOptions } from './inMemoryQueueBroker';
export { InMemoryTaskLogBroker, type InMemoryTaskLogBrokerOptions } from './inMemoryTaskLogBroker';
