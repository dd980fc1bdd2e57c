// Keyset paging lives with the read models that page; the routes use it from here.
export {
  BadCursorError,
  containsPattern,
  decodeCursor,
  encodeCursor,
  keysetAfter,
  pageWithCursor,
  parseSort,
} from '../../projections/engine/index.ts';
