import type { MiddlewareHandler } from 'hono';
import type { AppEnv } from '../kit/index.ts';
import { problemResponse, readRequestBody } from '../kit/index.ts';

const FORM_TYPE = /^application\/x-www-form-urlencoded(\s*;.*)?$/i;

/**
 * For the OAuth endpoints, whose requests are forms (RFC 6749 §3.2): a body over the limit is 413
 * (counted as it streams); a form body is parsed into `form`. Anything else is left for the endpoint
 * to refuse in its own protocol's format (`invalid_request`).
 */
export function formBody(limitBytes: number): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    if (c.req.method !== 'POST') return next();
    const declared = Number(c.req.header('content-length') ?? Number.NaN);
    if (declared > limitBytes) return tooLarge();
    const bytes = await readRequestBody(c, limitBytes);
    if (bytes === 'too_large') return tooLarge();
    if (FORM_TYPE.test(c.req.header('content-type') ?? '')) {
      let text: string;
      try {
        text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
      } catch {
        text = '';
        c.set('formError', 'the form is not UTF-8');
      }
      const form = new URLSearchParams(text);
      // PostgreSQL takes no NUL in text (`%00`): refused in the endpoint's own format, as a bad form.
      if ([...form].some(([name, value]) => name.includes('\u0000') || value.includes('\u0000'))) {
        c.set('formError', 'the form holds a NUL character (%00)');
      }
      c.set('form', form);
    }
    return next();

    function tooLarge() {
      return problemResponse(c, 413, 'body-too-large', `the body exceeds ${limitBytes} bytes`);
    }
  };
}
