import type { Context, MiddlewareHandler } from 'hono';
import type { Kysely } from 'kysely';
import { effectiveLimits } from '../../commands/tenancy/index.ts';
import type { Tables } from '../../db/tables.ts';
import type { Principal, ResolvedTenant } from '../../identity/index.ts';
import { leasedCounter } from '../../identity/index.ts';
import type { AppEnv } from '../kit/index.ts';
import { problemResponse } from '../kit/index.ts';
import { addressBudgetKey } from './address-budget-key.ts';

export interface RateLimitDeps {
  db: Kysely<Tables>;
  clock?: () => Date;
  /** Requests per window for each caller of a tenant; by default its plan's `apiRatePerMinute`. */
  limitFor?: (tenant: ResolvedTenant) => number;
  /** Requests per window for each client address without valid credentials (WARDEN_ANON_RATE_PER_MINUTE). */
  anonymousLimit: number;
  /** The caller's address, read as login throttling reads it (trusted proxy hops applied). */
  clientAddress: (c: Context) => string | undefined;
  /** Window length; the plan's figure is per minute, so change it only together with the limits. */
  windowSeconds?: number;
  /**
   * Share of the limit a process takes from the shared count at once (default 1 %). It then admits that
   * many requests from memory, so a busy caller costs one database write per lease, not per request.
   * Small limits are leased one request at a time, i.e. counted exactly.
   */
  leaseFraction?: number;
}

/** The two halves of the API rate limit, mounted around authentication. */
export interface RateLimit {
  /**
   * Mount after authentication: a request with a principal spends that principal's budget in its
   * tenant; one without spends its address's anonymous budget.
   */
  callers: MiddlewareHandler<AppEnv>;
  /**
   * Mount before authentication: a request whose credentials authentication refused (401, no principal)
   * is anonymous traffic too. It is counted against its address afterwards, and once that budget is
   * spent the answer is 429 instead, so forged tokens cannot be sent without limit.
   */
  refusedCredentials: MiddlewareHandler<AppEnv>;
}

/**
 * The 429 answer of every limit (login throttling included): problem+json with `Retry-After`.
 * Login calls it with `checkLogin`'s `retryAfterSeconds` when the attempt is refused.
 */
export function tooManyRequests(c: Context, retryAfterSeconds: number, detail: string): Response {
  c.header('Retry-After', String(Math.max(1, Math.ceil(retryAfterSeconds))));
  return problemResponse(c, 429, 'rate-limited', detail);
}

const byPlan = new Map<string, number>();
const byOverrides = new WeakMap<object, Map<string, number>>();

/**
 * The tenant's `apiRatePerMinute`, worked out once per plan and overrides object (a tenant lookup
 * holds its own, replaced when the tenant's plan or limits change): every authenticated request reads
 * it, and `effectiveLimits` parses the plan and copies every limit.
 */
const planLimit = (tenant: ResolvedTenant): number => {
  const { plan, limits } = tenant;
  let known = byPlan;
  if (limits) {
    let own = byOverrides.get(limits);
    if (!own) {
      own = new Map();
      byOverrides.set(limits, own);
    }
    known = own;
  }
  let limit = known.get(plan);
  if (limit === undefined) {
    limit = effectiveLimits(plan, limits).apiRatePerMinute;
    known.set(plan, limit);
  }
  return limit;
};

/**
 * Who spends a budget in a tenant: a user with their own tokens, an OAuth client acting for itself
 * (client credentials), or an OAuth client acting for a user — each its own budget, so one noisy
 * integration cannot starve the user or the other integrations.
 */
function principalKey(principal: Principal): string {
  if (principal.clientId === undefined) return `user:${principal.userId}`;
  if (principal.userId === principal.clientId) return `client:${principal.clientId}`;
  return `client:${principal.clientId}:user:${principal.userId}`;
}

interface Budget {
  key: string;
  limit: number;
  /** For the 429's detail: whose budget was spent. */
  whose: string;
}

/**
 * API rate limits, GitHub-style: every authenticated caller (user or OAuth client) of a tenant has the
 * tenant's plan budget (`apiRatePerMinute`) to itself; requests without valid credentials are counted
 * per client address in their own budget and never spend a tenant's or a caller's, so anonymous traffic
 * naming a tenant cannot lock its users out. There is no tenant-wide cap on top. Platform calls with a
 * principal but no tenant are not counted. Fixed windows counted in PostgreSQL (`warden_rate_limits`),
 * so every process shares one count: a process takes a lease of hits at once (one atomic upsert) and
 * admits that many from memory; n processes admit at most the limit in all. Every answer carries
 * `RateLimit-Limit`, `RateLimit-Remaining` and `RateLimit-Reset` (draft-ietf-httpapi-ratelimit-headers)
 * of the budget it spent; over it, 429 with `Retry-After`, the detail naming the budget.
 */
export function rateLimit(deps: RateLimitDeps): RateLimit {
  const clock = deps.clock ?? (() => new Date());
  const windowSeconds = deps.windowSeconds ?? 60;
  const limitFor = deps.limitFor ?? planLimit;
  const { admit } = leasedCounter({
    db: deps.db,
    windowSeconds,
    leaseFraction: deps.leaseFraction ?? 0.01,
  });

  const anonymous = (c: Context<AppEnv>): Budget => ({
    key: `address:${addressBudgetKey(deps.clientAddress(c))}`,
    limit: deps.anonymousLimit,
    whose: 'requests without valid credentials are limited per client address to',
  });

  function budgetOf(c: Context<AppEnv>): Budget | undefined {
    const principal = c.get('principal');
    if (!principal) return anonymous(c);
    const tenant = c.get('tenant');
    if (!tenant) return undefined;
    return {
      key: `principal:${tenant.id}:${principalKey(principal)}`,
      limit: limitFor(tenant),
      whose: "each caller (user or OAuth client) has the tenant's plan budget of",
    };
  }

  /** Spends one request of `budget`: the headers to send, and whether it was admitted. */
  async function spend(budget: Budget) {
    const now = clock();
    const admitted = await admit(budget.key, budget.limit, now);
    const windowMs = windowSeconds * 1000;
    const resetsAt = admitted?.resetsAt ?? (Math.floor(now.getTime() / windowMs) + 1) * windowMs;
    const reset = Math.max(1, Math.ceil((resetsAt - now.getTime()) / 1000));
    const headers = {
      'RateLimit-Limit': String(budget.limit),
      'RateLimit-Remaining': String(Math.max(0, budget.limit - (admitted?.used ?? budget.limit))),
      'RateLimit-Reset': String(reset),
    };
    return { admitted: admitted !== null, headers, reset };
  }

  const refusal = (c: Context<AppEnv>, budget: Budget, reset: number) =>
    tooManyRequests(
      c,
      reset,
      `${budget.whose} ${budget.limit} requests per ${windowSeconds} seconds; retry in ${reset} s`,
    );

  const callers: MiddlewareHandler<AppEnv> = async (c, next) => {
    const budget = budgetOf(c);
    if (!budget) return next();
    const { admitted, headers, reset } = await spend(budget);
    if (!admitted) {
      for (const [name, value] of Object.entries(headers)) c.header(name, value);
      return refusal(c, budget, reset);
    }
    await next();
    for (const [name, value] of Object.entries(headers)) c.res.headers.set(name, value);
  };

  const refusedCredentials: MiddlewareHandler<AppEnv> = async (c, next) => {
    await next();
    if (c.res.status !== 401 || c.get('principal') || c.req.header('authorization') === undefined) return;
    const budget = anonymous(c);
    const { admitted, headers, reset } = await spend(budget);
    if (!admitted) {
      // The 429 replaces the 401 and keeps its other headers (the request id among them).
      c.header('WWW-Authenticate', undefined);
      c.res = refusal(c, budget, reset);
    }
    for (const [name, value] of Object.entries(headers)) c.res.headers.set(name, value);
  };

  return { callers, refusedCredentials };
}
