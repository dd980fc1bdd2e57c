import type { Context, MiddlewareHandler } from 'hono';
import { type Kysely, sql } from 'kysely';
import { type PlanId, plans } from '../../commands/tenancy/plans.ts';
import type { Tables } from '../../db/tables.ts';
import type { ResolvedTenant } from '../../identity/principal.ts';
import type { AppEnv } from '../env.ts';
import { problemResponse } from '../problem.ts';

export interface RateLimitDeps {
  db: Kysely<Tables>;
  clock?: () => Date;
  /** Requests per window for a tenant; by default its plan's `apiRatePerMinute`. */
  limitFor?: (tenant: ResolvedTenant) => number;
  /** Window length; the plan's figure is per minute, so change it only together with `limitFor`. */
  windowSeconds?: number;
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
): Promise<WindowCount> {
  const windowMs = windowSeconds * 1000;
  const start = Math.floor(now.getTime() / windowMs) * windowMs;
  const result = await sql<{ hits: number; window_start: Date | string }>`
    insert into warden_rate_limits as r (key, window_start, hits)
    values (${key}, ${new Date(start).toISOString()}::timestamptz, 1)
    on conflict (key) do update set
      hits = case when r.window_start >= excluded.window_start then r.hits + 1 else 1 end,
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

/**
 * Per-tenant API rate limit by plan: a fixed window counted in PostgreSQL (`warden_rate_limits`).
 * Every answer carries `RateLimit-Limit`, `RateLimit-Remaining` and `RateLimit-Reset` (IETF
 * draft-ietf-httpapi-ratelimit-headers); over the limit it is 429 with `Retry-After`. Mount it after
 * tenant resolution: a request without a tenant is not counted here.
 */
export function rateLimit(deps: RateLimitDeps): MiddlewareHandler<AppEnv> {
  const clock = deps.clock ?? (() => new Date());
  const windowSeconds = deps.windowSeconds ?? 60;
  const limitFor = deps.limitFor ?? planLimit;
  return async (c, next) => {
    const tenant = c.get('tenant');
    if (!tenant) return next();
    const limit = limitFor(tenant);
    const now = clock();
    const { hits, resetsAt } = await countHit(deps.db, `tenant:${tenant.id}`, now, windowSeconds);
    const reset = Math.max(1, Math.ceil((resetsAt - now.getTime()) / 1000));
    const headers = {
      'RateLimit-Limit': String(limit),
      'RateLimit-Remaining': String(Math.max(0, limit - hits)),
      'RateLimit-Reset': String(reset),
    };
    if (hits > limit) {
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
