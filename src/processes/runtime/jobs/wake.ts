import type { Database } from '../../../db/database.ts';
import type { ProcessLogger } from '../process-manager.ts';
import { JOBS_CHANNEL, jobNotice } from './queue.ts';

/**
 * Wakes each runner the moment a job is queued on its queue by any process on this database (the
 * queue's notice on `JOBS_CHANNEL`), and hands the notices of `also`'s channels (cancels) to their
 * listeners. Best effort: if listening fails, the runners poll. Resolves to a function that stops
 * listening on every channel.
 */
export async function wakeOnJobs(
  database: Pick<Database, 'listen' | 'schema'>,
  runners: Readonly<Record<string, { wake(): void }>>,
  logger: ProcessLogger,
  also: readonly (readonly [channel: string, hear: (payload: string) => void])[] = [],
): Promise<() => Promise<void>> {
  const byNotice = new Map(
    Object.entries(runners).map(([queue, r]) => [jobNotice(database.schema, queue), r]),
  );
  try {
    const stops = await Promise.all([
      database.listen(JOBS_CHANNEL, (payload) => byNotice.get(payload)?.wake()),
      ...also.map(([channel, hear]) => database.listen(channel, hear)),
    ]);
    return async () => {
      for (const stop of stops) await stop();
    };
  } catch (error) {
    logger.warn(
      { err: error, queues: Object.keys(runners) },
      'listening for queued jobs failed; polling only',
    );
    return async () => {};
  }
}
