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
  ruleViolated,
} from './errors.ts';
export { type CommandContext, type CommandResult, handle, load } from './handle.ts';
export { deriveId } from './ids.ts';
