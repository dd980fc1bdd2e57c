/** Errors of the projection engine, each with a literal `code` the HTTP edge and CLI narrow on. */

/** No projection of that name is registered with the engine (HTTP: 404). */
export class UnknownProjectionError extends Error {
  readonly code = 'ERR_UNKNOWN_PROJECTION' as const;
  constructor(readonly projection: string) {
    super(`no projection named "${projection}"`);
    this.name = 'UnknownProjectionError';
  }
}

/** A rebuild of this projection is already running, here or in another process (HTTP: 409). */
export class RebuildInProgressError extends Error {
  readonly code = 'ERR_REBUILD_IN_PROGRESS' as const;
  constructor(readonly projection: string) {
    super(`projection "${projection}" is already being rebuilt`);
    this.name = 'RebuildInProgressError';
  }
}

/**
 * A rebuild stopped before its swap: the live tables are untouched and the shadow is dropped.
 * `eventId`/`position` name the event whose `apply` threw, when that was the cause.
 */
export class RebuildFailedError extends Error {
  readonly code = 'ERR_REBUILD_FAILED' as const;
  constructor(
    readonly projection: string,
    message: string,
    readonly eventId: string | null = null,
    readonly position: bigint | null = null,
    options?: { cause?: unknown },
  ) {
    super(`rebuild of "${projection}" failed: ${message}`, options);
    this.name = 'RebuildFailedError';
  }
}

export type ProjectionEngineError = UnknownProjectionError | RebuildInProgressError | RebuildFailedError;

export function isProjectionEngineError(error: unknown): error is ProjectionEngineError {
  return (
    error instanceof UnknownProjectionError ||
    error instanceof RebuildInProgressError ||
    error instanceof RebuildFailedError
  );
}
