export { InMemoryQueueBroker, type InMemoryQueueBrokerOptions } from './inMemoryQueueBroker';
export { InMemoryTaskLogBroker } from './inMemoryTaskLogBroker';
