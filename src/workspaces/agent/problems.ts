import type { Context } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import type { ZodError } from 'zod';
import type { ContainerEngineError } from '../docker/port.ts';

/** A problem+json answer, as the agent gives every refusal. */
export function problemOf(c: Context, status: number, slug: string, detail: string): Response {
  return c.body(
    JSON.stringify({ type: `https://warden.dev/problems/${slug}`, title: slug, status, detail }),
    status as ContentfulStatusCode,
    { 'content-type': 'application/problem+json' },
  );
}

/** The validation hook of every agent route: a failed parse is a 400 naming each field. */
export function invalid(result: { success: true } | { success: false; error: ZodError }, c: Context) {
  if (result.success) return undefined;
  const detail = result.error.issues.map((issue) => `${issue.path.join('.') || '(body)'}: ${issue.message}`);
  return problemOf(c, 400, 'validation', detail.join('; '));
}

/** A refusal the agent answers with a problem (thrown from a handler, answered by `onError`). */
export class AgentRefusal extends Error {
  constructor(
    readonly status: number,
    readonly slug: string,
    detail: string,
  ) {
    super(detail);
  }
}

/** The status each container engine error is answered with. */
export const ENGINE_STATUS: Record<ContainerEngineError['code'], number> = {
  not_found: 404,
  image_not_found: 404,
  conflict: 409,
  unavailable: 503,
  invalid: 422,
  failed: 422,
};

/** The security requirement of every route but enrolment and the document. */
export const signed = [{ wardenSignature: [] }];
