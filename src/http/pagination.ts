import { RequestError } from './problem.ts';

/**
 * Opaque keyset cursors: the sort they belong to, the last row's sort key and its id. Keyset (not
 * offset) paging keeps pages stable while rows are added.
 */
export function encodeCursor(sort: string, key: string, id: string): string {
  const json = JSON.stringify({ s: sort, k: key, i: id });
  return btoa(String.fromCodePoint(...new TextEncoder().encode(json)))
    .replaceAll('+', '-')
    .replaceAll('/', '_')
    .replace(/=+$/, '');
}

export function decodeCursor(cursor: string, sort: string): { key: string; id: string } {
  try {
    const binary = atob(cursor.replaceAll('-', '+').replaceAll('_', '/'));
    const json = new TextDecoder().decode(Uint8Array.from(binary, (ch) => ch.codePointAt(0)!));
    const parsed = JSON.parse(json) as { s?: unknown; k?: unknown; i?: unknown };
    if (parsed.s !== sort) throw new Error('sort differs');
    if (typeof parsed.k !== 'string' || typeof parsed.i !== 'string') throw new Error('shape');
    return { key: parsed.k, id: parsed.i };
  } catch {
    throw new RequestError(
      400,
      'bad-cursor',
      'cursor is not one this list handed out (or the sort changed)',
      [{ path: 'query.cursor', message: 'invalid cursor' }],
    );
  }
}
