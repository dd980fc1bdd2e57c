import { LRUCache } from 'lru-cache';

/**
 * lru-cache's time source, read from the injected clock, so a test that moves its clock moves the
 * caches' TTLs too. `ttlResolution: 0` goes with it: lru-cache would otherwise reuse one reading for
 * a millisecond of real time, which a fake clock does not respect.
 */
export function cacheClock(clock: () => Date): { perf: { now(): number }; ttlResolution: 0 } {
  return { perf: { now: () => clock().getTime() }, ttlResolution: 0 };
}

/**
 * A bounded cache of values loaded by `load`, expiring `ttlMs` after they were loaded (least recently
 * used out first when full). `fetch(key)` loads a key once however many callers ask at the same time;
 * a failed load caches nothing; a value whose key is deleted while it loads goes to the callers already
 * waiting but not into the cache, and a fetch after the delete starts (and shares) a new load.
 */
export function loadingCache<K extends {}, V extends {}>(options: {
  max: number;
  ttlMs: number;
  clock: () => Date;
  load: (key: K) => Promise<V>;
}): LRUCache<K, V> {
  return new LRUCache<K, V>({
    max: options.max,
    ttl: options.ttlMs,
    ...cacheClock(options.clock),
    fetchMethod: (key) => options.load(key),
    // A delete aborts the load: its callers still get the value (not an abort error), the cache not.
    ignoreFetchAbort: true,
  });
}
