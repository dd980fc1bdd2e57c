import { describe, expect, it } from 'vitest';
import { loadingCache } from '../../src/runtime/cache.ts';

/** A load that finishes when the test says so. */
function deferred<V>() {
  let resolve: (value: V) => void = () => {};
  const promise = new Promise<V>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

/** A cache whose loads are whatever `next` holds when a load starts; `loads` counts them. */
function cacheOf(options: { max?: number; ttlMs?: number; clock?: () => Date } = {}) {
  const state = { loads: 0, next: (): Promise<string> => Promise.resolve('loaded') };
  const cache = loadingCache<string, string>({
    max: options.max ?? 10,
    ttlMs: options.ttlMs ?? 60_000,
    clock: options.clock ?? (() => new Date()),
    load: () => {
      state.loads++;
      return state.next();
    },
  });
  return { cache, state };
}

describe('loadingCache', () => {
  it('keeps a value loaded before a delete out of the cache (a forgotten client is read again)', async () => {
    const { cache, state } = cacheOf();
    const old = deferred<string>();
    state.next = () => old.promise;
    const waiting = cache.fetch('tenant:client');
    cache.delete('tenant:client');
    old.resolve('before the change');
    expect(await waiting).toBe('before the change');
    state.loads = 0;
    state.next = async () => 'after the change';
    expect(await cache.fetch('tenant:client')).toBe('after the change');
    expect(state.loads).toBe(1);
  });

  it('lets callers after a delete join the load started after it, not a third one', async () => {
    const { cache, state } = cacheOf();
    const first = deferred<string>();
    const second = deferred<string>();
    state.next = () => first.promise;
    const a = cache.fetch('k');
    cache.delete('k');
    state.next = () => second.promise;
    const b = cache.fetch('k');
    first.resolve('stale');
    await a;
    state.next = () => deferred<string>().promise;
    const c = cache.fetch('k');
    second.resolve('fresh');
    expect([await b, await c]).toEqual(['fresh', 'fresh']);
    expect(state.loads).toBe(2);
    expect(cache.get('k')).toBe('fresh');
  });

  it('caches nothing when the load fails, and the next caller loads again', async () => {
    const { cache, state } = cacheOf();
    state.next = () => Promise.reject(new Error('database down'));
    await expect(cache.fetch('k')).rejects.toThrow('database down');
    state.next = async () => 'loaded';
    expect(await cache.fetch('k')).toBe('loaded');
  });

  it('loads a key once for callers who ask at the same time', async () => {
    const { cache, state } = cacheOf();
    const load = deferred<string>();
    state.next = () => load.promise;
    const both = Promise.all([cache.fetch('k'), cache.fetch('k')]);
    load.resolve('once');
    expect(await both).toEqual(['once', 'once']);
    expect(state.loads).toBe(1);
  });

  it('expires a value by the injected clock, not the wall clock', async () => {
    let now = new Date('2030-01-01T00:00:00Z');
    const { cache, state } = cacheOf({ ttlMs: 1000, clock: () => now });
    await cache.fetch('k');
    now = new Date(now.getTime() + 1000);
    await cache.fetch('k');
    expect(state.loads).toBe(1);
    now = new Date(now.getTime() + 1);
    await cache.fetch('k');
    expect(state.loads).toBe(2);
  });

  it('drops the least recently used key when full', async () => {
    const { cache } = cacheOf({ max: 2 });
    await cache.fetch('a');
    await cache.fetch('b');
    cache.get('a');
    await cache.fetch('c');
    expect([cache.has('a'), cache.has('b'), cache.has('c')]).toEqual([true, false, true]);
  });

  it('keeps at most max entries, drops the least recently used first, and expires entries', async () => {
    let now = new Date('2030-01-01T00:00:00Z');
    const { cache, state } = cacheOf({ max: 2, ttlMs: 1000, clock: () => now });
    cache.set('a', '1');
    cache.set('b', '2');
    expect(cache.get('a')).toBe('1');
    cache.set('c', '3');
    expect(cache.get('b')).toBeUndefined();
    expect(cache.get('a')).toBe('1');
    now = new Date(now.getTime() + 2000);
    expect(cache.get('a')).toBeUndefined();
    const [x, y] = await Promise.all([cache.fetch('k'), cache.fetch('k')]);
    expect([x, y, state.loads]).toEqual(['loaded', 'loaded', 1]);
  });
});
