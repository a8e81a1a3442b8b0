export { SqsQueueBroker, type SqsQueueBrokerOptions } from './sqsQueueBroker';
export { SqsSendError } from './sqsErrors';
