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
  const listening = await Promise.allSettled([
    database.listen(JOBS_CHANNEL, (payload) => byNotice.get(payload)?.wake()),
    ...also.map(([channel, hear]) => database.listen(channel, hear)),
  ]);
  const stops = listening.flatMap((l) => (l.status === 'fulfilled' ? [l.value] : []));
  const stopAll = async () => {
    for (const stop of stops) await stop();
  };
  const failed = listening.find((l) => l.status === 'rejected');
  if (!failed) return stopAll;
  // All or none: the channels that did open are closed again (each holds a connection of its own),
  // and the runners poll.
  logger.warn(
    { err: failed.reason, queues: Object.keys(runners) },
    'listening for queued jobs failed; polling only',
  );
  await stopAll().catch(() => undefined);
  return async () => {};
}
