/** The EventStoreDB/KurrentDB adapter of the event store port, and competing consumers for workers. */
export {
  type CompetingConsumerOptions,
  type ConsumerSource,
  ensureConsumerGroup,
  runCompetingConsumer,
} from './competing-consumer.ts';
export { EventStoreDbPositionError } from './mapping.ts';
export { type EventStoreDbOptions, eventStoreDbEventStore } from './store.ts';
