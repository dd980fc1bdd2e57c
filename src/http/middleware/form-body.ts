import type { MiddlewareHandler } from 'hono';
import type { AppEnv } from '../kit/env.ts';
import { problemResponse } from '../kit/problem.ts';

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
    const chunks: Uint8Array[] = [];
    let size = 0;
    const reader = c.req.raw.body?.getReader();
    while (reader) {
      const { done, value } = await reader.read();
      if (done) break;
      size += value.byteLength;
      if (size > limitBytes) {
        await reader.cancel();
        return tooLarge();
      }
      chunks.push(value);
    }
    const bytes = new Uint8Array(size);
    let offset = 0;
    for (const chunk of chunks) {
      bytes.set(chunk, offset);
      offset += chunk.byteLength;
    }
    if (FORM_TYPE.test(c.req.header('content-type') ?? '')) {
      let text: string;
      try {
        text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
      } catch {
        text = '';
        c.set('formError', 'the form is not UTF-8');
      }
      c.set('form', new URLSearchParams(text));
    }
    return next();

    function tooLarge() {
      return problemResponse(c, 413, 'body-too-large', `the body exceeds ${limitBytes} bytes`);
    }
  };
}
