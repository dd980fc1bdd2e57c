/**
 * On PGlite, about how long one page's transaction may hold the one session. A page there, live or
 * in a rebuild, is sized from the last one's time per event (at least MIN_PGLITE_PAGE events, at most
 * the batch size), so a request waits for at most about this long behind it: a page of 1,000 issues
 * (each stemmed for search) held it for about half a second. On PostgreSQL pages keep the batch size:
 * a request takes another connection of the pool.
 */
export const PGLITE_PAGE_MS = 50;
export const MIN_PGLITE_PAGE = 10;

/** The next page's size on PGlite: as many events as the last page's time per event fits in PGLITE_PAGE_MS. */
export function fitPglitePage(batchSize: number, events: number, tookMs: number): number {
  const fits = Math.floor((PGLITE_PAGE_MS * events) / Math.max(tookMs, 0.001));
  return Math.min(batchSize, Math.max(MIN_PGLITE_PAGE, fits));
}
