import type { FieldError } from '../../commands/kernel/index.ts';
import type { SavedFilterTarget } from '../../commands/tracker/index.ts';
import type { IssueSort, ProjectSort } from '../../projections/tracker/index.ts';
import { RequestError, zodFieldErrors } from '../kit/index.ts';
import { listParams } from './list-params.ts';
import { IssueListQuery, ProjectListQuery } from './schemas.ts';

/** What a saved filter may hold: the list's query without its page (no `limit`, no `cursor`). */
const savedQueries = {
  issues: { schema: IssueListQuery.omit({ limit: true, cursor: true }), defaultSort: '-created_at' },
  projects: { schema: ProjectListQuery.omit({ limit: true, cursor: true }), defaultSort: 'key' },
} as const;

/**
 * Parses a saved filter's query string exactly as its list parses a request's (same schema, same
 * search and sort rules), so a saved filter always opens. Answers the query in a normal form, or the
 * field errors, each under `query.` (the body's field).
 */
export function parseSavedQuery(
  target: SavedFilterTarget,
  text: string,
): { ok: true; query: string } | { ok: false; errors: FieldError[] } {
  const params = new URLSearchParams(text.startsWith('?') ? text.slice(1) : text);
  const keys = [...params.keys()];
  const repeated = keys.filter((key, i) => keys.indexOf(key) !== i);
  if (repeated.length > 0) {
    return {
      ok: false,
      errors: [...new Set(repeated)].map((key) => ({
        path: `query.${key}`,
        message: 'given more than once',
      })),
    };
  }
  const { schema, defaultSort } = savedQueries[target];
  const parsed = schema.safeParse(Object.fromEntries(params));
  if (!parsed.success) return { ok: false, errors: zodFieldErrors(parsed.error, 'query') };
  try {
    listParams<IssueSort | ProjectSort>(parsed.data, defaultSort);
  } catch (error) {
    if (error instanceof RequestError) return { ok: false, errors: error.errors };
    throw error;
  }
  const normal = Object.entries(parsed.data).flatMap(([key, value]) =>
    value === undefined ? [] : [[key, String(value)] as [string, string]],
  );
  return { ok: true, query: new URLSearchParams(normal).toString() };
}
