import type { Context, MiddlewareHandler } from 'hono';
import { type Kysely, sql } from 'kysely';
import { type PlanId, plans } from '../../commands/tenancy/plans.ts';
import type { Tables } from '../../db/tables.ts';
import type { ResolvedTenant } from '../../identity/principal.ts';
import type { AppEnv } from '../kit/env.ts';
import { problemResponse } from '../kit/problem.ts';

export interface RateLimitDeps {
  db: Kysely<Tables>;
  clock?: () => Date;
  /** Requests per window for a tenant; by default its plan's `apiRatePerMinute`. */
  limitFor?: (tenant: ResolvedTenant) => number;
  /** Window length; the plan's figure is per minute, so change it only together with `limitFor`. */
  windowSeconds?: number;
  /**
   * Share of the limit a process takes from the shared count at once (default 1 %). It then admits that
   * many requests from memory, so a busy tenant costs one database write per lease, not per request.
   * Small limits are leased one request at a time, i.e. counted exactly.
   */
  leaseFraction?: number;
}

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
 * The 429 answer of every limit (login throttling included): problem+json with `Retry-After`.
 * Login calls it with `checkLogin`'s `retryAfterSeconds` when the attempt is refused.
 */
export function tooManyRequests(c: Context, retryAfterSeconds: number, detail: string): Response {
  c.header('Retry-After', String(Math.max(1, Math.ceil(retryAfterSeconds))));
  return problemResponse(c, 429, 'rate-limited', detail);
}

const planLimit = (tenant: ResolvedTenant) => (plans[tenant.plan as PlanId] ?? plans.free).apiRatePerMinute;

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

/**
 * Per-tenant API rate limit by plan: a fixed window counted in PostgreSQL (`warden_rate_limits`), so
 * every process shares one count. A process takes a lease of hits at once (one atomic upsert) and
 * admits that many from memory; n processes can admit at most the limit in all (a lease is counted
 * when taken, whether or not it is used up). Every answer carries `RateLimit-Limit`,
 * `RateLimit-Remaining` and `RateLimit-Reset` (IETF draft-ietf-httpapi-ratelimit-headers); over the
 * limit it is 429 with `Retry-After`. Mount it after tenant resolution: a request without a tenant is
 * not counted here.
 */
export function rateLimit(deps: RateLimitDeps): MiddlewareHandler<AppEnv> {
  const clock = deps.clock ?? (() => new Date());
  const windowSeconds = deps.windowSeconds ?? 60;
  const limitFor = deps.limitFor ?? planLimit;
  const { admit } = leasedCounter({
    db: deps.db,
    windowSeconds,
    leaseFraction: deps.leaseFraction ?? 0.01,
  });

  return async (c, next) => {
    const tenant = c.get('tenant');
    if (!tenant) return next();
    const limit = limitFor(tenant);
    const now = clock();
    const key = `tenant:${tenant.id}`;
    const admitted = await admit(key, limit, now);
    const windowMs = windowSeconds * 1000;
    const resetsAt = admitted?.resetsAt ?? (Math.floor(now.getTime() / windowMs) + 1) * windowMs;
    const reset = Math.max(1, Math.ceil((resetsAt - now.getTime()) / 1000));
    const headers = {
      'RateLimit-Limit': String(limit),
      'RateLimit-Remaining': String(Math.max(0, limit - (admitted?.used ?? limit))),
      'RateLimit-Reset': String(reset),
    };
    if (!admitted) {
      for (const [name, value] of Object.entries(headers)) c.header(name, value);
      return tooManyRequests(
        c,
        reset,
        `the tenant's plan allows ${limit} requests per ${windowSeconds} seconds; retry in ${reset} s`,
      );
    }
    await next();
    for (const [name, value] of Object.entries(headers)) c.res.headers.set(name, value);
  };
}
