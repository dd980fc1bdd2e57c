export { defineProjection, type Recorded } from './define.ts';
export { ProjectionEngine, type ProjectionEngineOptions, type RebuildOptions } from './engine.ts';
export {
  isProjectionEngineError,
  type ProjectionEngineError,
  RebuildFailedError,
  RebuildInProgressError,
  UnknownProjectionError,
} from './errors.ts';
export {
  BadCursorError,
  containsPattern,
  decodeCursor,
  encodeCursor,
  keysetAfter,
  pageWithCursor,
  parseSort,
} from './keyset.ts';
export type { EngineLogger } from './logger.ts';
export type { Projection } from './projection.ts';
export type { RebuildProgress, RebuildResult } from './rebuild.ts';
export type { ProjectionErrorInfo } from './rows.ts';
export { shadowSchemaName } from './schemas.ts';
export type { ProjectionState, ProjectionStatus } from './status.ts';
