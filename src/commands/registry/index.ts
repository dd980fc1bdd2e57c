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
export { eventUpcasters, type Upcaster } from './upcasters.ts';
