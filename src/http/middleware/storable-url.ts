import type { MiddlewareHandler } from 'hono';
import { isStorableText, STORABLE_TEXT_MESSAGE } from '../../commands/kernel/index.ts';
import type { AppEnv } from '../kit/index.ts';
import { problemResponse } from '../kit/index.ts';

/**
 * A URL whose path or query decodes to a NUL (`%00`) is refused with 400 naming where: PostgreSQL
 * takes no NUL in text, so such a value reaching a query was a 500 (`/v1/users?q=%00`), and reaching
 * an event, a read model stopped for every tenant. (An encoded surrogate is not UTF-8, and decodes to
 * U+FFFD.) One check for every route; bodies are checked by `jsonBody` and `formBody`.
 */
export function storableUrl(): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const url = c.req.url;
    if (!url.includes('%00')) return next();
    const { pathname, searchParams } = new URL(url);
    let path: string | undefined;
    if (pathname.includes('%00')) path = 'path';
    else {
      for (const [name, value] of searchParams) {
        if (!isStorableText(name) || !isStorableText(value)) {
          path = `query.${isStorableText(name) ? name : name.replaceAll('\u0000', '')}`;
          break;
        }
      }
    }
    if (path === undefined) return next();
    return problemResponse(c, 400, 'validation', 'the request is not valid', {
      errors: [{ path, message: STORABLE_TEXT_MESSAGE }],
    });
  };
}
