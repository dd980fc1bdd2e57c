import { mkdtemp, open, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Kysely } from 'kysely';
import type { EventStore } from '../../eventstore/port.ts';
import type { AdvisoryTables, ImportResult } from '../advisories.ts';
import { importOsv } from '../osv-import.ts';

export type AdvisoryFeedTables = {
  warden_advisory_feed: {
    url: string;
    etag: string | null;
    last_modified: string | null;
    checked_at: Date;
    synced_at: Date | null;
    last_import_id: string | null;
    last_error: string | null;
  };
};

export interface FeedSyncOptions {
  db: Kysely<AdvisoryTables & AdvisoryFeedTables>;
  store: EventStore;
  url: string;
  timeoutMs: number;
  maxDownloadBytes: number;
  maxEntryBytes: number;
  clock?: () => Date;
  fetch?: typeof fetch;
}

/**
 * What one sync did: `not_modified` (a 304, nothing downloaded), `imported` (an archive read; its
 * import may have changed nothing), `failed` (the previous data stays; `error` says why).
 */
export type FeedSyncOutcome =
  | { result: 'not_modified' }
  | { result: 'imported'; import: ImportResult & { recorded: boolean } }
  | { result: 'failed'; error: string };

/** The feed's address for logs and error text: no user info, no query (either may hold a secret). */
export function feedLabel(url: string): string {
  const u = new URL(url);
  return `${u.protocol}//${u.host}${u.pathname}`;
}

class FeedError extends Error {}

/** Streams the response body to `path`, refusing more than `max` bytes. */
async function download(body: ReadableStream<Uint8Array>, path: string, max: number): Promise<number> {
  const file = await open(path, 'wx', 0o600);
  let size = 0;
  try {
    for await (const chunk of body as unknown as AsyncIterable<Uint8Array>) {
      size += chunk.length;
      if (size > max) throw new FeedError(`archive larger than ${max} bytes`);
      await file.write(chunk);
    }
  } finally {
    await file.close();
  }
  return size;
}

/**
 * One sync of an OSV export zip: a conditional GET with the validators of the last archive imported
 * (a 304 does nothing), the body streamed to a private temporary file under a size cap and a time
 * limit, then imported entry by entry like `WARDEN_OSV_PATH` (same advisories table, same
 * `AdvisoriesImported`, so monitoring flags packages already let in). The validators are stored only
 * once an archive was imported whole: a failed or partial sync is tried again next time.
 */
export async function syncOsvFeed(options: FeedSyncOptions): Promise<FeedSyncOutcome> {
  const clock = options.clock ?? (() => new Date());
  const doFetch = options.fetch ?? fetch;
  const { db, url } = options;
  // The row is keyed by the address without user info or query: a secret in either stays out of the database.
  const key = feedLabel(url);
  const state = await db
    .selectFrom('warden_advisory_feed')
    .select(['etag', 'last_modified'])
    .where('url', '=', key)
    .executeTakeFirst();
  const note = async (values: Partial<AdvisoryFeedTables['warden_advisory_feed']>) => {
    const row = { checked_at: clock(), ...values };
    await db
      .insertInto('warden_advisory_feed')
      .values({ url: key, ...row })
      .onConflict((oc) => oc.column('url').doUpdateSet(row))
      .execute();
  };
  const fail = async (error: string): Promise<FeedSyncOutcome> => {
    await note({ last_error: error.slice(0, 2000) });
    return { result: 'failed', error };
  };
  const signal = AbortSignal.timeout(options.timeoutMs);
  let folder: string | undefined;
  try {
    const headers: Record<string, string> = { accept: 'application/zip, application/octet-stream;q=0.9' };
    if (state?.etag) headers['if-none-match'] = state.etag;
    if (state?.last_modified) headers['if-modified-since'] = state.last_modified;
    // fetch refuses a URL with credentials: they travel as Basic authentication instead.
    const target = new URL(url);
    if (target.username || target.password) {
      const pair = `${decodeURIComponent(target.username)}:${decodeURIComponent(target.password)}`;
      headers.authorization = `Basic ${Buffer.from(pair).toString('base64')}`;
      target.username = '';
      target.password = '';
    }
    const response = await doFetch(target, { headers, signal, redirect: 'follow' });
    if (response.status === 304) {
      await response.body?.cancel();
      await note({ last_error: null });
      return { result: 'not_modified' };
    }
    if (!response.ok || !response.body) {
      await response.body?.cancel();
      return await fail(`the feed answered HTTP ${response.status}`);
    }
    const declared = Number(response.headers.get('content-length') ?? Number.NaN);
    if (declared > options.maxDownloadBytes) {
      await response.body.cancel();
      return await fail(`archive larger than ${options.maxDownloadBytes} bytes (${declared} announced)`);
    }
    folder = await mkdtemp(join(tmpdir(), 'warden-osv-feed-'));
    const path = join(folder, 'feed.zip');
    await download(response.body, path, options.maxDownloadBytes);
    const imported = await importOsv({
      db: db as unknown as Kysely<AdvisoryTables>,
      store: options.store,
      path,
      source: key,
      maxEntryBytes: options.maxEntryBytes,
      clock,
      metadata: { actorId: 'system:osv-feed' },
    });
    if (imported.aborted) {
      await note({ last_error: imported.aborted.slice(0, 2000), last_import_id: imported.importId });
      return { result: 'failed', error: imported.aborted };
    }
    await note({
      etag: response.headers.get('etag'),
      last_modified: response.headers.get('last-modified'),
      synced_at: clock(),
      last_error: null,
      ...(imported.recorded ? { last_import_id: imported.importId } : {}),
    });
    return { result: 'imported', import: imported };
  } catch (error) {
    const message =
      error instanceof FeedError
        ? error.message
        : signal.aborted
          ? `no complete answer within ${options.timeoutMs} ms`
          : `the feed could not be read: ${(error as Error).message}`;
    return await fail(message);
  } finally {
    if (folder) await rm(folder, { recursive: true, force: true });
  }
}

/** When the feed was last asked (any outcome), or undefined when never. */
export async function lastFeedCheck(db: Kysely<AdvisoryFeedTables>, url: string): Promise<Date | undefined> {
  const row = await db
    .selectFrom('warden_advisory_feed')
    .select('checked_at')
    .where('url', '=', feedLabel(url))
    .executeTakeFirst();
  return row ? new Date(row.checked_at) : undefined;
}
