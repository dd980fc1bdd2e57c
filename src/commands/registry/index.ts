export {
  type AggregateRegistry,
  aggregate,
  aggregateRegistry,
  aggregates,
  entityOf,
  fingerprint,
  type ReplayableAggregate,
} from './aggregates.ts';
export { type PersonalFields, personalFields } from './personal-data.ts';
export { eventUpcasters, upcasters } from './upcasters.ts';
