import { loadingCache } from '../runtime/cache.ts';
import { intervalSync } from '../runtime/interval-sync.ts';
import type { EventStore, ReadStreamOptions, RecordedEvent } from './port.ts';

/** The store's stream reads with whole streams kept in memory (see {@link streamCache}). */
export interface StreamCache {
  /** Reads as the store does; a forwards read is served from the cached whole stream. */
  readStream(streamId: string, options?: ReadStreamOptions): Promise<RecordedEvent[]>;
  /** Drops a cached stream. */
  forget(streamId: string): void;
  /** Streams held now. */
  readonly size: number;
  /** Stops hearing this process's appends. */
  close(): void;
}

/** Events read per page, filling an entry or catching up with the log. */
const PAGE = 1000;

/**
 * Whole streams of a few event types kept in a bounded cache that the log keeps current, for hot
 * reads of small aggregates (an OAuth client per token request, the caller on `GET /v1/me`): a
 * cached stream is read from the store once, then folded from memory, and dropped
 *   - at once when this process appends an event of `types` (any stream: a local change is seen by
 *     the very next read, read-your-writes);
 *   - when another process's change shows in the log: before answering, at most once per `syncMs`,
 *     one read of the events of `types` appended since the last one drops each stream they name
 *     beyond the revisions it holds;
 *   - `ttlMs` after it was read: the log shows an event only once every transaction older than it
 *     has ended, so a long transaction elsewhere must not hold a stale stream here for longer (and
 *     a stream read, which sees an event at commit, may hold one the log has yet to show: that
 *     one does not drop it).
 * So a change made anywhere reaches every process within `syncMs`, as a revocation does, while a
 * stream nobody changes costs no round trip. A stream that loads while it changes is never cached
 * stale: a drop during its load keeps the loaded events out of the cache (see `loadingCache`).
 */
export function streamCache(
  store: EventStore,
  options: { types: readonly string[]; syncMs: number; ttlMs: number; max: number; clock: () => Date },
): StreamCache {
  const cache = loadingCache<string, { events: readonly RecordedEvent[] }>({
    max: options.max,
    ttlMs: options.ttlMs,
    clock: options.clock,
    load: async (streamId) => {
      const events: RecordedEvent[] = [];
      for (;;) {
        const page = await store.readStream(streamId, { from: events.length, limit: PAGE });
        events.push(...page);
        // Frozen: handed out as it is (below), so no reader can change what the next one reads.
        if (page.length < PAGE) return { events: Object.freeze(events) };
      }
    },
  });
  const types = new Set(options.types);
  const unhear = store.onAppend((appended) => {
    if (appended.some((type) => types.has(type))) cache.clear();
  });
  // The log position up to which changes have been applied; unset until the first sync, which only
  // marks where the log stands (nothing was cached before it).
  let after: bigint | undefined;
  const fresh = intervalSync(options.syncMs, async () => {
    if (after === undefined) {
      after = await store.headPosition();
      return;
    }
    for (;;) {
      const changes = await store.readAll({ after, types: options.types, limit: PAGE });
      for (const { streamId, revision } of changes) {
        // Whole streams, revisions from 0 without gaps: one of `length` events holds revision r < length.
        const held = cache.peek(streamId);
        if (held === undefined || revision >= held.events.length) cache.delete(streamId);
      }
      after = changes.at(-1)?.position ?? after;
      if (changes.length < PAGE) return;
    }
  });

  return {
    async readStream(streamId, readOptions = {}) {
      const { from = 0, limit, direction } = readOptions;
      // Only the read an aggregate's load makes (forwards, from a revision, a page size) is served
      // from memory; any other goes to the store, which also answers a bad option as it always does.
      const served = options.ttlMs > 0 && direction !== 'backwards' && isCount(from, 0) && isCount(limit, 1);
      if (!served) return store.readStream(streamId, readOptions);
      await fresh();
      const { events } = await cache.forceFetch(streamId);
      // The whole stream as it is kept, frozen: a reader folding it (`load`) remembers its fold by it.
      // cast: the port's type is mutable; this array throws on any change.
      if (from === 0 && events.length <= limit) return events as RecordedEvent[];
      // Revisions count from 0 with no gaps, so revision r is at index r.
      return events.slice(from, from + limit);
    },
    forget(streamId) {
      cache.delete(streamId);
    },
    get size() {
      return cache.size;
    },
    close: unhear,
  };
}

const isCount = (value: unknown, least: number): value is number =>
  typeof value === 'number' && Number.isSafeInteger(value) && value >= least;
