import type { Context, MiddlewareHandler } from 'hono';
import type { Kysely } from 'kysely';
import { type PlanId, plans } from '../../commands/tenancy/index.ts';
import type { Tables } from '../../db/tables.ts';
import type { ResolvedTenant } from '../../identity/index.ts';
import { leasedCounter } from '../../identity/index.ts';
import type { AppEnv } from '../kit/index.ts';
import { problemResponse } from '../kit/index.ts';

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
