export {
  type AggregateRegistry,
  aggregate,
  aggregateRegistry,
  aggregates,
  entityOf,
  type ReplayableAggregate,
} from './aggregates.ts';
export { eventUpcasters, upcasters } from './upcasters.ts';
