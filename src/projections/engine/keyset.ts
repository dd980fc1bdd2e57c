import { type RawBuilder, sql } from 'kysely';
import { type FieldError, isStorableText } from '../../commands/kernel/index.ts';

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
    throw badCursor();
  }
}

/** A cursor this list did not hand out (or whose sort changed): the HTTP edge answers 400 `bad-cursor`. */
export class BadCursorError extends Error {
  readonly code = 'BAD_CURSOR' as const;
  readonly errors: FieldError[] = [{ path: 'query.cursor', message: 'invalid cursor' }];
  constructor() {
    super('cursor is not one this list handed out (or the sort changed)');
    this.name = 'BadCursorError';
  }
}

function badCursor(): BadCursorError {
  return new BadCursorError();
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** `sort=-created_at` → the column and its direction. */
export function parseSort<Column extends string>(
  sort: string,
): { column: Column; direction: 'asc' | 'desc' } {
  return sort.startsWith('-')
    ? { column: sort.slice(1) as Column, direction: 'desc' }
    : { column: sort as Column, direction: 'asc' };
}

/** An ILIKE pattern matching `q` anywhere, with its own `%`, `_` and `\` taken literally. */
export function containsPattern(q: string): string {
  return `%${q.replace(/[\\%_]/g, (m) => `\\${m}`)}%`;
}

/**
 * Rows after the cursor in `(column, id)` order: one row-value comparison, which the
 * `(column, id)` index serves. Timestamp columns (`*_at`) compare as dates.
 */
export function keysetAfter(cursorText: string, sort: string): RawBuilder<boolean> {
  const { column, direction } = parseSort(sort);
  const cursor = decodeCursor(cursorText, sort);
  const key = column.endsWith('_at') ? new Date(cursor.key) : cursor.key;
  // A key the database cannot take (a year outside 0001-9999, a NUL) is a forged cursor, not a 500.
  const usable =
    key instanceof Date
      ? !Number.isNaN(key.getTime()) && key.getUTCFullYear() >= 1 && key.getUTCFullYear() <= 9999
      : isStorableText(key);
  if (!UUID.test(cursor.id) || !usable) throw badCursor();
  const op = direction === 'asc' ? '>' : '<';
  return sql<boolean>`(${sql.ref(column)}, id) ${sql.raw(op)} (${key}, ${cursor.id}::uuid)`;
}

/** Splits `limit + 1` rows into the page and the cursor to the next one (null on the last page). */
export function pageWithCursor<Row extends { id: string }>(
  rows: Row[],
  limit: number,
  sort: string,
  keyOf: (row: Row) => string,
): { page: Row[]; next_cursor: string | null } {
  const page = rows.slice(0, limit);
  const last = page[page.length - 1];
  return { page, next_cursor: rows.length > limit && last ? encodeCursor(sort, keyOf(last), last.id) : null };
}
