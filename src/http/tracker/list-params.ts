import { searchWords } from '../../projections/tracker/index.ts';
import { decodeCursor, RequestError } from '../kit/index.ts';

interface ListQuery<Sort extends string> {
  cursor?: string | undefined;
  label?: string | undefined;
  created_from?: string | undefined;
  created_to?: string | undefined;
  updated_from?: string | undefined;
  updated_to?: string | undefined;
  q?: string | undefined;
  sort?: Sort | undefined;
}

/** `a,b` → `['a', 'b']`. */
export const split = (value: string | undefined) => (value ? value.split(',') : undefined);
const instant = (value: string | undefined) => (value ? new Date(value) : undefined);

/**
 * What every tracker list makes of its query the same way: the search words, the sort (relevance by
 * default with `q`), the cursor (bound to sort and `q`, so a cursor of another search is refused), and
 * the shared filters. The list adds its own filters and calls its page query.
 */
export function listParams<Sort extends string>(query: ListQuery<Sort>, defaultSort: Sort) {
  const words = query.q ? searchWords(query.q) : undefined;
  if (query.q && words?.length === 0) {
    throw new RequestError(400, 'validation', 'q has no words to search for', [
      { path: 'query.q', message: 'needs at least one letter or digit' },
    ]);
  }
  const sort = query.sort ?? (words ? ('relevance' as Sort) : defaultSort);
  if (sort === 'relevance' && !words) {
    throw new RequestError(400, 'validation', 'sort=relevance needs q', [
      { path: 'query.sort', message: 'relevance sorts a search: send q' },
    ]);
  }
  const scope = `${sort}|${query.q ?? ''}`;
  const after = query.cursor ? decodeCursor(query.cursor, scope) : undefined;
  return {
    sort,
    /** The cursor's scope: `encodeCursor(scope, …)` for the next page. */
    scope,
    ...(after ? { after } : {}),
    ...(words ? { words } : {}),
    ...(query.label ? { labels: split(query.label)! } : {}),
    ...(query.created_from ? { createdFrom: instant(query.created_from)! } : {}),
    ...(query.created_to ? { createdTo: instant(query.created_to)! } : {}),
    ...(query.updated_from ? { updatedFrom: instant(query.updated_from)! } : {}),
    ...(query.updated_to ? { updatedTo: instant(query.updated_to)! } : {}),
  };
}
