import type { MiddlewareHandler } from 'hono';
import { STORABLE_TEXT_MESSAGE, unstorablePath } from '../../commands/kernel/index.ts';
import type { AppEnv } from '../kit/index.ts';
import { keepBodyText, problemResponse, readRequestBody } from '../kit/index.ts';

const JSON_TYPE = /^application\/([a-z0-9.+-]*\+)?json(\s*;.*)?$/i;
/**
 * What a JSON text holding a NUL or an unpaired surrogate must contain: the escape (`\u0000`,
 * `\ud800`…) or a raw NUL. Most bodies contain neither, and are not walked.
 */
const ESCAPED_UNSTORABLE = /\\u0000|\\u[dD][89a-fA-F][0-9a-fA-F]{2}/;
const maybeUnstorable = (text: string) => text.includes('\u0000') || ESCAPED_UNSTORABLE.test(text);

/**
 * For requests that carry a body: refuse a body that is too large (413, counted as it streams, so a
 * lying Content-Length does not help), that is not JSON (415) or that does not parse (400), before any
 * handler runs. The exact text is kept for idempotency fingerprints. `textTypes` are media types taken
 * as UTF-8 text without the JSON check (pnpm-lock.yaml and yarn.lock for the package requests).
 */
export function jsonBody(
  limitBytes: number,
  options: { textTypes?: RegExp } = {},
): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const method = c.req.method;
    if (method !== 'POST' && method !== 'PUT' && method !== 'PATCH') return next();
    const declared = Number(c.req.header('content-length') ?? Number.NaN);
    if (declared > limitBytes) return tooLarge();
    const bytes = await readRequestBody(c, limitBytes);
    if (bytes === 'too_large') return tooLarge();
    if (bytes.length === 0) {
      c.set('rawBody', '');
      keepBodyText(c, '');
      return next();
    }
    const type = c.req.header('content-type') ?? '';
    const asText = options.textTypes?.test(type) === true;
    if (!JSON_TYPE.test(type) && !asText) {
      const accepted = options.textTypes
        ? 'application/json, application/yaml, text/yaml or text/plain'
        : 'application/json';
      return problemResponse(c, 415, 'unsupported-media-type', `send the body as ${accepted}`, {
        errors: [{ path: 'header.content-type', message: `must be ${accepted}, got "${type || 'none'}"` }],
      });
    }
    let text: string;
    let unstorable: string | undefined;
    try {
      text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
      if (!asText) {
        const parsed: unknown = JSON.parse(text);
        if (maybeUnstorable(text)) unstorable = unstorablePath(parsed);
      }
    } catch (error) {
      if (asText)
        return problemResponse(c, 400, 'malformed-text', 'the body is not UTF-8 text', {
          errors: [{ path: '(body)', message: 'not UTF-8' }],
        });
      return problemResponse(
        c,
        400,
        'malformed-json',
        `the body is not valid JSON: ${(error as Error).message}`,
        {
          errors: [{ path: '(body)', message: 'not valid JSON' }],
        },
      );
    }
    if (unstorable !== undefined) {
      // A text PostgreSQL cannot hold would be stored as an event and then stop every read model
      // that projects it, for every tenant: refused here for every route at once.
      return problemResponse(c, 400, 'validation', 'the request is not valid', {
        errors: [{ path: unstorable, message: STORABLE_TEXT_MESSAGE }],
      });
    }
    c.set('rawBody', text);
    // Hand the validated text on to the validators (the original stream is consumed): Hono's body
    // cache answers `c.req.text()` and `c.req.json()` from it, with no second `Request` built.
    keepBodyText(c, text);
    return next();

    function tooLarge() {
      return problemResponse(c, 413, 'body-too-large', `the body exceeds ${limitBytes} bytes`);
    }
  };
}
