import { type RawBuilder, type SelectQueryBuilder, type SqlBool, sql } from 'kysely';
import { isStorableText } from '../../commands/kernel/index.ts';
import { BadCursorError } from '../engine/index.ts';

/**
 * What the tracker's lists (issues, projects) share: full-text search over a generated `search`
 * column, sort keys that page by keyset, and the page itself. Each list names its columns; the
 * machinery is written once.
 */

/** Up to eight words (letters and digits) of a search box: everything else is a separator. */
export function searchWords(q: string): string[] {
  return (q.match(/[\p{L}\p{N}]+/gu) ?? []).slice(0, 8).map((w) => w.toLowerCase());
}

/** `deploy fail` → `deploy:* & fail:*`: every word must match, each as a prefix. Built from words only, so no tsquery syntax gets through. */
const tsquery = (words: readonly string[]) =>
  sql`to_tsquery('english'::regconfig, ${words.map((w) => `${w}:*`).join(' & ')})`;

/** Rows whose `search` vector matches every word. */
export const searchMatches = (table: string, words: readonly string[]) =>
  sql<SqlBool>`${sql.ref(`${table}.search`)} @@ ${tsquery(words)}`;

/** The relevance of a row to the words (selected `as rank`, sorted by `relevance`). */
export const searchRank = (table: string, words: readonly string[]) =>
  sql<number>`ts_rank(${sql.ref(`${table}.search`)}, ${tsquery(words)})::float8`;

/** Filters every tracker list offers. */
export interface SharedFilters {
  /** Rows carrying every one of these labels. */
  labels?: readonly string[];
  createdFrom?: Date;
  createdTo?: Date;
  updatedFrom?: Date;
  updatedTo?: Date;
  /** Words of a full-text query; each matches as a prefix. */
  words?: readonly string[];
}

/** The conditions of the shared filters on a list's table (labels, created/updated ranges, search). */
export function sharedConditions(table: string, f: SharedFilters): RawBuilder<SqlBool>[] {
  const ref = (column: string) => sql.ref(`${table}.${column}`);
  const where: RawBuilder<SqlBool>[] = [];
  if (f.labels?.length) where.push(sql<SqlBool>`${ref('labels')} @> ${sql.val([...f.labels])}::text[]`);
  if (f.createdFrom) where.push(sql<SqlBool>`${ref('created_at')} >= ${f.createdFrom}`);
  if (f.createdTo) where.push(sql<SqlBool>`${ref('created_at')} < ${f.createdTo}`);
  if (f.updatedFrom) where.push(sql<SqlBool>`${ref('updated_at')} >= ${f.updatedFrom}`);
  if (f.updatedTo) where.push(sql<SqlBool>`${ref('updated_at')} < ${f.updatedTo}`);
  if (f.words?.length) where.push(searchMatches(table, f.words));
  return where;
}

/** A list's sort: the expression, its direction, how a cursor's text key becomes a typed value, a row's key, and which keys a cursor may carry. */
export interface SortKey {
  expr: RawBuilder<unknown>;
  direction: 'asc' | 'desc';
  cast: (key: string) => RawBuilder<unknown>;
  keyOf: (row: Record<string, unknown>) => string;
  valid: (key: string) => boolean;
}

/** `-created_at` descends, `created_at` ascends, `relevance` is best first. */
export const directionOf = (sort: string): 'asc' | 'desc' =>
  sort.startsWith('-') || sort === 'relevance' ? 'desc' : 'asc';

const dateText = (value: unknown): string => {
  if (typeof value === 'string') return value;
  const date = value as Date;
  return Number.isFinite(date.getTime()) ? date.toISOString().slice(0, 10) : 'infinity';
};

/** A time PostgreSQL's `timestamptz` takes as the driver sends it: the years 0001 to 9999 (UTC). */
const inYearRange = (date: Date) =>
  !Number.isNaN(date.getTime()) && date.getUTCFullYear() >= 1 && date.getUTCFullYear() <= 9999;
const DATE = /^(\d{4})-(\d{2})-(\d{2})$/;
/** A calendar date that exists and PostgreSQL's `date` holds (`2024-02-30` and year 0000 do not). */
const isCalendarDate = (key: string) => {
  const match = DATE.exec(key);
  if (!match || match[1] === '0000') return false;
  const date = new Date(`${key}T00:00:00Z`);
  return !Number.isNaN(date.getTime()) && date.toISOString().slice(0, 10) === key;
};

/** The kinds of column a tracker list sorts by. */
export const sortKeys = {
  time: (table: string, column: string, sort: string): SortKey => ({
    expr: sql.ref(`${table}.${column}`),
    direction: directionOf(sort),
    cast: (key) => sql`${new Date(key)}::timestamptz`,
    keyOf: (row) => new Date(row[column] as Date).toISOString(),
    valid: (key) => inYearRange(new Date(key)),
  }),
  text: (table: string, column: string, sort: string): SortKey => ({
    expr: sql.ref(`${table}.${column}`),
    direction: directionOf(sort),
    cast: (key) => sql`${key}::text`,
    keyOf: (row) => String(row[column]),
    valid: (key) => key.length <= 400 && isStorableText(key),
  }),
  /** A small whole number (`0…max`), e.g. a priority rank. */
  rank: (table: string, column: string, sort: string, max: number): SortKey => ({
    expr: sql.ref(`${table}.${column}`),
    direction: directionOf(sort),
    cast: (key) => sql`${Number(key)}::smallint`,
    keyOf: (row) => String(row[column]),
    valid: (key) => /^\d{1,3}$/.test(key) && Number(key) <= max,
  }),
  /** A date column that holds 'infinity' for "none" (so the key is never null). */
  date: (table: string, column: string, sort: string): SortKey => ({
    expr: sql.ref(`${table}.${column}`),
    direction: directionOf(sort),
    cast: (key) => sql`${key}::date`,
    keyOf: (row) => dateText(row[column]),
    valid: (key) => key === 'infinity' || isCalendarDate(key),
  }),
  /** Search relevance: the list selects it `as rank`. */
  relevance: (table: string, words: readonly string[]): SortKey => ({
    expr: searchRank(table, words),
    direction: 'desc',
    cast: (key) => sql`${Number(key)}::float8`,
    keyOf: (row) => String(row.rank),
    valid: (key) => key.trim() !== '' && Number.isFinite(Number(key)),
  }),
};

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * One page by keyset: rows after the cursor in (sort key, id) order, so a page stays the same while
 * rows are added. A cursor key the sort cannot hold is a `BadCursorError` (400), never a database error.
 */
export async function keysetPage<DB, TB extends keyof DB, Row extends { id: string }>(
  query: SelectQueryBuilder<DB, TB, Row>,
  table: string,
  sort: SortKey,
  request: { limit: number; after?: { key: string; id: string } | undefined },
): Promise<{ rows: Row[]; next: { key: string; id: string } | null }> {
  const id = sql.ref(`${table}.id`);
  let paged = query;
  if (request.after) {
    if (!sort.valid(request.after.key) || !UUID.test(request.after.id)) throw new BadCursorError();
    const op = sql.raw(sort.direction === 'asc' ? '>' : '<');
    paged = paged.where(
      sql<SqlBool>`(${sort.expr}, ${id}) ${op} (${sort.cast(request.after.key)}, ${request.after.id}::uuid)`,
    );
  }
  const rows = await paged
    .orderBy(sort.expr, sort.direction)
    .orderBy(id, sort.direction)
    .limit(request.limit + 1)
    .execute();
  const page = rows.slice(0, request.limit);
  const last = page[page.length - 1];
  const next =
    rows.length > request.limit && last
      ? { key: sort.keyOf(last as unknown as Record<string, unknown>), id: last.id }
      : null;
  return { rows: page, next };
}
