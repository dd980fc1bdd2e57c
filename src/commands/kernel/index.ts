export {
  type Aggregate,
  type AggregateSpec,
  aggregate,
  existsInTenant,
  type TenantOwned,
} from './aggregate.ts';
export { checkAgainst, validated } from './contract.ts';
export { type Decider, type DomainEvent, fold } from './decider.ts';
export {
  conflict,
  DomainError,
  type DomainErrorCode,
  type FieldError,
  forbidden,
  invalid,
  isDomainError,
  notFound,
  preconditionFailed,
  type QuotaDetail,
  quotaExceeded,
  ruleViolated,
} from './errors.ts';
export {
  type CommandContext,
  type CommandResult,
  handle,
  handleNew,
  type Loaded,
  load,
  toNewEvents,
} from './handle.ts';
export { deriveId } from './ids.ts';
export { record } from './record.ts';
export {
  type CommandStore,
  type EventMetadata,
  isWrongExpectedRevision,
  type NewEvent,
  type StoredEvent,
  type WrongExpectedRevision,
} from './store.ts';
export { isStorableText, STORABLE_TEXT_MESSAGE, toStorableText, unstorablePath } from './text.ts';
