import { describe, expect, it } from 'vitest';
import { ExpiringLru } from '../../src/oauth/lru.ts';

/** A load that finishes when the test says so. */
function deferred<V>() {
  let resolve: (value: V) => void = () => {};
  const promise = new Promise<V>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

describe('ExpiringLru.getOrLoad', () => {
  it('keeps a value loaded before a delete out of the cache (a forgotten client is read again)', async () => {
    const cache = new ExpiringLru<string>(10, 60_000);
    const old = deferred<string>();
    const waiting = cache.getOrLoad('tenant:client', () => old.promise);
    cache.delete('tenant:client');
    old.resolve('before the change');
    expect(await waiting).toBe('before the change');
    let loads = 0;
    const fresh = await cache.getOrLoad('tenant:client', async () => {
      loads++;
      return 'after the change';
    });
    expect(fresh).toBe('after the change');
    expect(loads).toBe(1);
  });

  it('lets callers after a delete join the load started after it, not a third one', async () => {
    const cache = new ExpiringLru<string>(10, 60_000);
    const first = deferred<string>();
    const second = deferred<string>();
    let loads = 0;
    const load = (d: { promise: Promise<string> }) => () => {
      loads++;
      return d.promise;
    };
    const a = cache.getOrLoad('k', load(first));
    cache.delete('k');
    const b = cache.getOrLoad('k', load(second));
    first.resolve('stale');
    await a;
    const c = cache.getOrLoad('k', load(deferred<string>()));
    second.resolve('fresh');
    expect([await b, await c]).toEqual(['fresh', 'fresh']);
    expect(loads).toBe(2);
    expect(cache.get('k')).toBe('fresh');
  });

  it('caches nothing when the load fails, and the next caller loads again', async () => {
    const cache = new ExpiringLru<string>(10, 60_000);
    await expect(cache.getOrLoad('k', () => Promise.reject(new Error('database down')))).rejects.toThrow(
      'database down',
    );
    expect(await cache.getOrLoad('k', async () => 'loaded')).toBe('loaded');
  });
});
