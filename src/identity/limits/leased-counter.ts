import { type Kysely, sql } from 'kysely';
import type { Tables } from '../../db/tables.ts';

export interface WindowCount {
  hits: number;
  /** Milliseconds since the epoch at which the window (and the count) resets. */
  resetsAt: number;
}

/**
 * Counts one hit for `key` in the fixed window containing `now`, atomically (one upsert), so several
 * processes share one count. A process whose clock lags never moves a window back.
 */
export async function countHit(
  db: Kysely<Tables>,
  key: string,
  now: Date,
  windowSeconds: number,
  hits = 1,
): Promise<WindowCount> {
  const windowMs = windowSeconds * 1000;
  const start = Math.floor(now.getTime() / windowMs) * windowMs;
  const result = await sql<{ hits: number; window_start: Date | string }>`
    insert into warden_rate_limits as r (key, window_start, hits)
    values (${key}, ${new Date(start).toISOString()}::timestamptz, ${hits})
    on conflict (key) do update set
      hits = case when r.window_start >= excluded.window_start then r.hits + ${hits} else ${hits} end,
      window_start = greatest(r.window_start, excluded.window_start)
    returning hits, window_start`.execute(db);
  const row = result.rows[0];
  if (!row) throw new Error('rate limit upsert returned no row');
  return { hits: row.hits, resetsAt: new Date(row.window_start).getTime() + windowMs };
}

/**
 * No counter's window is longer than this, so a row whose window started earlier has ended and can go:
 * a deleted row and a reset window count the same. `leasedCounter` refuses longer windows.
 */
export const LONGEST_WINDOW_SECONDS = 3600;

/** Deletes the counts of windows that have ended (the sweep's part of `warden_rate_limits`). */
export async function sweepEndedWindows(db: Kysely<Tables>, now: Date): Promise<number> {
  const ended = new Date(now.getTime() - LONGEST_WINDOW_SECONDS * 1000).toISOString();
  const result = await sql`delete from warden_rate_limits where window_start < ${ended}::timestamptz`.execute(
    db,
  );
  return Number(result.numAffectedRows ?? 0n);
}

/** Requests this process may still admit for a tenant in a window, taken from the shared count. */
export interface Lease {
  resetsAt: number;
  remaining: number;
  /** The shared count as of the last admitted request (for RateLimit-Remaining). */
  used: number;
}

/**
 * Fixed-window counts shared by every process through `warden_rate_limits`, admitted from leases: a
 * process takes `leaseFraction` of the limit at once (one atomic upsert) and admits that many from
 * memory, so n processes admit at most the limit in all, at one write per lease. The tenant's plan
 * limit and the OAuth token endpoint's per-client and per-address limits both count this way.
 */
export function leasedCounter(deps: { db: Kysely<Tables>; windowSeconds: number; leaseFraction: number }) {
  const { windowSeconds, leaseFraction } = deps;
  if (windowSeconds > LONGEST_WINDOW_SECONDS) {
    throw new Error(`rate windows are at most ${LONGEST_WINDOW_SECONDS} s (the sweep relies on it)`);
  }
  const leases = new Map<string, Lease>();
  const fetching = new Map<string, Promise<void>>();

  /** Takes a new lease for `key` from the shared count; one at a time per key in this process. */
  async function takeLease(key: string, limit: number, now: Date) {
    const size = Math.max(1, Math.floor(limit * leaseFraction));
    const { hits, resetsAt } = await countHit(deps.db, key, now, windowSeconds, size);
    const before = hits - size;
    const granted = Math.max(0, Math.min(size, limit - before));
    // granted 0: the window is used up everywhere; refuse from memory until it resets.
    leases.set(key, { resetsAt, remaining: granted, used: Math.min(before, limit) });
    if (leases.size > 10_000) {
      for (const [k, l] of leases) if (l.resetsAt <= now.getTime()) leases.delete(k);
    }
  }

  /**
   * Admits one request for `key` from this process's lease, taking a new lease when it has run out
   * (concurrent requests wait for the one lease being taken rather than each taking one). Null when
   * the window is used up.
   */
  async function admit(key: string, limit: number, now: Date): Promise<Lease | null> {
    for (;;) {
      const lease = leases.get(key);
      if (lease && lease.resetsAt > now.getTime()) {
        if (lease.remaining > 0) {
          lease.remaining--;
          lease.used++;
          return lease;
        }
        if (lease.used >= limit) return null;
      }
      let pending = fetching.get(key);
      if (!pending) {
        pending = takeLease(key, limit, now).finally(() => fetching.delete(key));
        fetching.set(key, pending);
      }
      await pending;
      const taken = leases.get(key);
      if (taken && taken.remaining === 0 && taken.used >= limit) return null;
    }
  }

  return { admit };
}
