/** Field-level detail of an invalid input, rendered into problem+json `errors`. */
export interface FieldError {
  path: string;
  message: string;
}

export type DomainErrorCode =
  | 'NOT_FOUND'
  | 'CONFLICT'
  | 'FORBIDDEN'
  | 'RULE_VIOLATED'
  | 'INVALID'
  | 'PRECONDITION_FAILED'
  | 'QUOTA_EXCEEDED';

/** A plan limit a refusal names: which one, its value, and when it renews (null: it does not, it is a cap). */
export interface QuotaDetail {
  name: string;
  limit: number;
  resetAt: string | null;
  /** Seconds from the command's time to `resetAt` (the edge's `Retry-After`); null with no reset. */
  retryAfterSeconds: number | null;
}

/**
 * The handful of expected failures a command can end in. Narrow on `code` (never on the message);
 * the HTTP edge maps each code to one status in one place.
 */
export class DomainError extends Error {
  constructor(
    readonly code: DomainErrorCode,
    message: string,
    readonly detail: {
      rule?: string;
      errors?: FieldError[];
      actualRevision?: number;
      quota?: QuotaDetail;
      /** The entities a rule's refusal rests on (the images holding a tag, say), for a caller that acts on them. */
      holders?: string[];
    } = {},
  ) {
    super(message);
    this.name = 'DomainError';
  }
}

export const notFound = (what: string) => new DomainError('NOT_FOUND', `${what} not found`);
export const conflict = (message: string) => new DomainError('CONFLICT', message);
export const forbidden = (message: string) => new DomainError('FORBIDDEN', message);
export const ruleViolated = (rule: string, message: string, holders?: string[]) =>
  new DomainError('RULE_VIOLATED', message, holders ? { rule, holders } : { rule });
export const invalid = (errors: FieldError[]) =>
  new DomainError('INVALID', errors.map((e) => `${e.path}: ${e.message}`).join('; '), { errors });
export const preconditionFailed = (actualRevision: number) =>
  new DomainError('PRECONDITION_FAILED', `the entity changed: it is at revision ${actualRevision}`, {
    actualRevision,
  });

/** A plan limit is used up: the edge answers 429 naming the quota, its limit and when it renews. */
export const quotaExceeded = (quota: QuotaDetail, message: string) =>
  new DomainError('QUOTA_EXCEEDED', message, { quota });

export function isDomainError(error: unknown): error is DomainError {
  return error instanceof DomainError;
}
