import type { Context } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import type { FieldError } from '../../commands/kernel/index.ts';
import { type ProblemCode, problemType } from './problem-catalogue.ts';

/** RFC 9457 problem details, with `errors` naming each bad field. */
export interface Problem {
  type: string;
  title: string;
  status: number;
  detail?: string;
  instance?: string;
  errors?: FieldError[];
  [extension: string]: unknown;
}

const TITLES: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  409: 'Conflict',
  412: 'Precondition Failed',
  413: 'Content Too Large',
  415: 'Unsupported Media Type',
  422: 'Unprocessable Content',
  428: 'Precondition Required',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  501: 'Not Implemented',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
};

export function problemResponse(
  c: Context,
  status: number,
  slug: ProblemCode,
  detail?: string,
  extra: Partial<Problem> = {},
): Response {
  const body: Problem = {
    type: problemType(slug),
    title: TITLES[status] ?? 'Error',
    status,
    ...(detail === undefined ? {} : { detail }),
    instance: new URL(c.req.url).pathname,
    ...extra,
  };
  return c.body(JSON.stringify(body), status as ContentfulStatusCode, {
    'content-type': 'application/problem+json',
  });
}

/** A request the edge refuses before any command runs (bad header, bad cursor…): a 4xx problem. */
export class RequestError extends Error {
  readonly code = 'ERR_REQUEST' as const;
  constructor(
    readonly status: number,
    readonly slug: ProblemCode,
    message: string,
    readonly errors: FieldError[] = [],
    /** Problem members beyond the standard ones (`quota`, `limit`, `reset_at`, …). */
    readonly extensions: Record<string, unknown> = {},
  ) {
    super(message);
    this.name = 'RequestError';
  }
}
