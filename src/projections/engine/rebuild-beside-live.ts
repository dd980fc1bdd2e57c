import type { Database } from '../../db/database.ts';
import type { EventStore } from '../../eventstore/port.ts';
import { RebuildFailedError } from './errors.ts';
import type { EngineLogger } from './logger.ts';
import type { Projection } from './projection.ts';
import { type RebuildProgress, type RebuildResult, rebuildInShadow } from './rebuild.ts';
import { engineTables, ensureRow, markFailed, type ProjectionErrorInfo } from './rows.ts';
import type { ProjectionRunner } from './runner.ts';

/**
 * One rebuild in the engine: the shadow rebuild pauses the live runner only for the swap, then the
 * runner goes on from the rebuilt position (or starts there, when the engine runs it here and it was
 * stopped). A failure leaves the live runner as it was.
 */
export async function rebuildBesideLive(input: {
  database: Database;
  store: EventStore;
  projection: Projection;
  runner: ProjectionRunner;
  logger: EngineLogger;
  batchSize: number;
  owner: string;
  signal: AbortSignal;
  /** Updated after each committed batch (the engine's status reads it). */
  progress: RebuildProgress;
  onProgress?: (progress: RebuildProgress) => void | Promise<void>;
  /** Whether the engine runs projections in this process now. */
  runsHere: () => boolean;
}): Promise<RebuildResult> {
  const { database, projection, runner, logger, progress } = input;
  await ensureRow(engineTables(database.db, database.schema), projection.name);
  let paused = false;
  logger.info({ projection: projection.name }, 'rebuild started');
  try {
    const result = await rebuildInShadow({
      database,
      store: input.store,
      projection,
      logger,
      batchSize: input.batchSize,
      owner: input.owner,
      signal: input.signal,
      onProgress: (p) => {
        progress.done = p.done;
        progress.total = p.total;
        return input.onProgress?.(p);
      },
      pauseLive: async () => {
        paused = true;
        await runner.pause();
      },
    });
    if (runner.running) runner.resume(result.position);
    else if (input.runsHere()) runner.start(result.position, null, 'live');
    paused = false;
    const { events, eventsPerSecond, seconds } = result;
    logger.info({ projection: projection.name, events, eventsPerSecond, seconds }, 'rebuild swapped in');
    return result;
  } finally {
    if (paused) runner.resume();
  }
}

/** A rebuild to a new version failed: the runner and the engine's table say so, with the event. */
export async function recordRebuildFailure(
  database: Database,
  projection: Projection,
  runner: ProjectionRunner,
  error: unknown,
  logger: EngineLogger,
): Promise<void> {
  const info: ProjectionErrorInfo = {
    message: error instanceof Error ? error.message : String(error),
    eventId: error instanceof RebuildFailedError ? error.eventId : null,
    position: error instanceof RebuildFailedError ? error.position : null,
    at: new Date(),
  };
  runner.state = 'failed';
  runner.lastError = info;
  logger.error({ projection: projection.name, err: error }, 'rebuild to the new version failed');
  await markFailed(engineTables(database.db, database.schema), projection.name, info).catch(() => {});
}
