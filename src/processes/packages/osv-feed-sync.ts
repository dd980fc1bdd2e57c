import type { Kysely } from 'kysely';
import type { Config } from '../../config.ts';
import type { Database } from '../../db/database.ts';
import type { EventStore } from '../../eventstore/port.ts';
import type { Logger } from '../../logger.ts';
import {
  type AdvisoryFeedTables,
  type AdvisoryTables,
  type FeedSyncOutcome,
  feedLabel,
  lastFeedCheck,
  syncOsvFeed,
} from '../../packages/index.ts';
import { SingletonLease } from '../runtime/index.ts';

/** The partition-table name of the lease: one process of the cluster syncs the feed. */
export const OSV_FEED_LEASE = 'osvFeedSync';

export interface OsvFeedSyncOptions {
  config: Pick<
    Config,
    | 'WARDEN_OSV_URL'
    | 'WARDEN_OSV_SYNC_INTERVAL_MS'
    | 'WARDEN_OSV_TIMEOUT_MS'
    | 'WARDEN_OSV_MAX_DOWNLOAD_BYTES'
    | 'WARDEN_OSV_MAX_ENTRY_BYTES'
  > & { WARDEN_OSV_URL: string };
  database: Database;
  store: EventStore;
  /** This process's worker id: the holder of the feed lease. */
  owner: string;
  logger: Pick<Logger, 'info' | 'error' | 'warn'>;
  /** Counts each sync by outcome (`warden_osv_syncs_total`). */
  onOutcome?: (result: 'not_modified' | 'imported' | 'unchanged' | 'failed') => void;
  clock?: () => Date;
  /** How often the lease is renewed and the schedule looked at (default: a fifth of the lease). */
  tickMs?: number;
  leaseMs?: number;
  fetch?: typeof fetch;
}

export interface OsvFeedSync {
  /** True while this process holds the lease. */
  leading(): boolean;
  /** Resolves after the next sync this process runs (for tests and `warden` commands). */
  nextOutcome(): Promise<FeedSyncOutcome>;
  stop(): Promise<void>;
}

/**
 * The scheduled OSV feed sync: every process competes for one lease; its holder asks the feed when
 * the last check (any process's, stored with the feed's validators) is older than the interval.
 * The lease is renewed while a download runs, so a long sync is never run twice at once.
 */
export function startOsvFeedSync(options: OsvFeedSyncOptions): OsvFeedSync {
  const { config, logger } = options;
  const clock = options.clock ?? (() => new Date());
  const leaseMs = options.leaseMs ?? 60_000;
  const tickMs = options.tickMs ?? Math.min(Math.floor(leaseMs / 5), config.WARDEN_OSV_SYNC_INTERVAL_MS);
  const db = options.database.db as unknown as Kysely<AdvisoryTables & AdvisoryFeedTables>;
  const lease = new SingletonLease(options.database, OSV_FEED_LEASE, options.owner, leaseMs);
  const url = config.WARDEN_OSV_URL;
  const label = feedLabel(url);
  let held = false;
  let stopped = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let waiters: ((outcome: FeedSyncOutcome) => void)[] = [];

  const sync = async () => {
    // Renewed while the download and import run; a lost lease is seen on the next tick.
    const renew = setInterval(
      () => {
        lease.hold().catch(() => undefined);
      },
      Math.max(250, Math.floor(leaseMs / 3)),
    );
    try {
      return await syncOsvFeed({
        db,
        store: options.store,
        url,
        timeoutMs: config.WARDEN_OSV_TIMEOUT_MS,
        maxDownloadBytes: config.WARDEN_OSV_MAX_DOWNLOAD_BYTES,
        maxEntryBytes: config.WARDEN_OSV_MAX_ENTRY_BYTES,
        clock,
        ...(options.fetch ? { fetch: options.fetch } : {}),
      });
    } finally {
      clearInterval(renew);
    }
  };

  const report = (outcome: FeedSyncOutcome) => {
    if (outcome.result === 'failed') {
      logger.error(
        { feed: label, error: outcome.error },
        'OSV feed sync failed; the previous advisory data stays',
      );
      options.onOutcome?.('failed');
    } else if (outcome.result === 'not_modified') {
      logger.info({ feed: label }, 'OSV feed unchanged (304)');
      options.onOutcome?.('not_modified');
    } else {
      const { total, changed, withdrawn, errors, recorded, importId } = outcome.import;
      logger.info(
        { feed: label, total, changed, withdrawn, errors: errors.length, ...(recorded ? { importId } : {}) },
        'OSV feed imported',
      );
      options.onOutcome?.(recorded ? 'imported' : 'unchanged');
    }
  };

  const round = async () => {
    held = await lease.hold();
    if (!held) return;
    const last = await lastFeedCheck(db as unknown as Kysely<AdvisoryFeedTables>, url);
    if (last && clock().getTime() - last.getTime() < config.WARDEN_OSV_SYNC_INTERVAL_MS) return;
    let outcome: FeedSyncOutcome;
    try {
      outcome = await sync();
    } catch (error) {
      // The feed state could not be written (database gone): still an outcome, never a crash.
      outcome = { result: 'failed', error: `sync stopped: ${(error as Error).message}` };
    }
    const resolved = waiters;
    waiters = [];
    for (const resolve of resolved) resolve(outcome);
    report(outcome);
  };

  let running: Promise<void> = Promise.resolve();
  const schedule = (delay: number) => {
    if (stopped) return;
    timer = setTimeout(() => {
      running = round()
        .catch((error: unknown) => logger.error({ err: error, feed: label }, 'OSV feed sync round failed'))
        .finally(() => schedule(tickMs));
    }, delay);
  };
  schedule(0);
  return {
    leading: () => held,
    nextOutcome: () => new Promise((resolve) => waiters.push(resolve)),
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await running;
      if (held) await lease.release().catch(() => undefined);
      held = false;
    },
  };
}
