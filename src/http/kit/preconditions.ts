import type { Context } from 'hono';
import { RequestError } from './problem.ts';

/** Strong entity tag of a revision: `"3"`. */
export const etagOf = (revision: number) => `"${revision}"`;

/**
 * The revision an `If-Match` header pins, `undefined` when absent (or `*`, which any existing entity
 * matches). Garbage is a 400 naming the header, never a silent "no precondition".
 */
export function ifMatchRevision(c: Context): number | undefined {
  const header = c.req.header('if-match');
  if (header === undefined) return undefined;
  const value = header.trim();
  if (value === '*') return undefined;
  const match = /^"(0|[1-9][0-9]{0,14})"$/.exec(value);
  if (!match) {
    throw invalidHeader('If-Match', 'must be one entity tag from ETag, such as "3", or *');
  }
  return Number(match[1]);
}

/** A position a client saw in `X-Position` and wants its query to reflect (`X-Min-Position`). */
export function minPosition(c: Context): bigint | undefined {
  const header = c.req.header('x-min-position');
  if (header === undefined) return undefined;
  if (!/^[0-9]{1,19}$/.test(header.trim()))
    throw invalidHeader('X-Min-Position', 'must be a position from X-Position');
  return BigInt(header.trim());
}

function invalidHeader(name: string, message: string) {
  return new RequestError(400, 'bad-header', `${name} ${message}`, [{ path: `header.${name}`, message }]);
}
