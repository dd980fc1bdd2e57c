import type { Context } from 'hono';
import { HTTPException } from 'hono/http-exception';
import { ZodError } from 'zod';
import { DomainError, type DomainErrorCode } from '../../commands/kernel/index.ts';
import { InvalidStoreInputError, WrongExpectedRevisionError } from '../../eventstore/port.ts';
import { BadCursorError } from '../../projections/engine/index.ts';
import type { AppEnv } from '../kit/index.ts';
import { type ProblemCode, problemResponse, RequestError, zodFieldErrors } from '../kit/index.ts';

const DOMAIN_STATUS: Record<DomainErrorCode, [number, ProblemCode]> = {
  NOT_FOUND: [404, 'not-found'],
  CONFLICT: [409, 'conflict'],
  FORBIDDEN: [403, 'forbidden'],
  RULE_VIOLATED: [409, 'rule-violated'],
  INVALID: [422, 'invalid'],
  PRECONDITION_FAILED: [412, 'precondition-failed'],
  QUOTA_EXCEEDED: [429, 'quota-exceeded'],
};

/**
 * The one place errors become HTTP: domain errors by their code, store conflicts as 409, framework
 * errors (bad JSON, body too large) by their status, anything else as a logged 500 that reveals nothing.
 */
export function onError(error: Error, c: Context<AppEnv>): Response {
  if (error instanceof DomainError) {
    const [status, slug] = DOMAIN_STATUS[error.code];
    if (error.code === 'PRECONDITION_FAILED' && error.detail.actualRevision !== undefined) {
      c.header('ETag', `"${error.detail.actualRevision}"`);
    }
    const quota = error.detail.quota;
    if (quota?.retryAfterSeconds != null) {
      c.header('Retry-After', String(Math.max(1, Math.ceil(quota.retryAfterSeconds))));
    }
    return problemResponse(c, status, slug, error.message, {
      ...(error.detail.rule ? { rule: error.detail.rule } : {}),
      ...(error.detail.errors ? { errors: error.detail.errors } : {}),
      ...(quota ? { quota: quota.name, limit: quota.limit, reset_at: quota.resetAt } : {}),
    });
  }
  if (error instanceof RequestError) {
    return problemResponse(c, error.status, error.slug, error.message, {
      ...error.extensions,
      ...(error.errors.length ? { errors: error.errors } : {}),
    });
  }
  if (error instanceof BadCursorError) {
    return problemResponse(c, 400, 'bad-cursor', error.message, { errors: error.errors });
  }
  if (error instanceof WrongExpectedRevisionError) {
    return problemResponse(
      c,
      409,
      'concurrent-change',
      'the entity was changed concurrently; reload and retry',
    );
  }
  if (error instanceof InvalidStoreInputError) {
    return problemResponse(c, 422, 'invalid', error.message, {
      errors: [{ path: error.field, message: error.message }],
    });
  }
  if (error instanceof ZodError) {
    return problemResponse(c, 400, 'validation', 'the request is not valid', {
      errors: zodFieldErrors(error),
    });
  }
  if (error instanceof HTTPException) {
    const status = error.status;
    if (status === 413) return problemResponse(c, 413, 'body-too-large', error.message);
    if (status === 400) return problemResponse(c, 400, 'malformed', error.message || 'malformed request');
    return problemResponse(c, status, 'http', error.message);
  }
  c.get('logger')?.().error({ err: error }, 'unhandled error');
  return problemResponse(
    c,
    500,
    'internal',
    'an unexpected error occurred; quote the request id to the operators',
    {
      request_id: c.get('requestId'),
    },
  );
}
