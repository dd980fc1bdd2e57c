import type { MiddlewareHandler } from 'hono';
import type { Kysely } from 'kysely';
import { LRUCache } from 'lru-cache';
import { LimitOverrides } from '../../commands/tenancy/index.ts';
import type { Tables } from '../../db/tables.ts';
import type { ResolvedTenant } from '../../identity/index.ts';
import type { TenantDomainTables, TenantListTables } from '../../projections/tenancy/index.ts';
import { cacheClock } from '../../runtime/cache.ts';
import { intervalSync } from '../../runtime/interval-sync.ts';
import type { AppEnv } from '../kit/index.ts';
import { problemResponse, rememberUrl, requestUrl } from '../kit/index.ts';

const PATH_PREFIX = /^\/t\/([^/]+)(\/.*)?$/;
/** RFC 8414 §3: an issuer with a path has its metadata at /.well-known/<name><path>, e.g. …/t/acme. */
const WELL_KNOWN_SUFFIX =
  /^(\/\.well-known\/(?:oauth-authorization-server|openid-configuration))\/t\/([^/]+)$/;
// Looser than the slug rules on purpose: anything else cannot be a tenant, so it needs no lookup.
const SLUG_SHAPE = /^[a-z0-9-]{1,63}$/;

/**
 * What a suspended tenant still answers: sign-in and refresh (its owner and the platform superadmin
 * keep a session; anyone else is refused by the route, the refresh token kept for after reactivation)
 * and opening an email verification link (a sign-up awaiting approval gets its link at once; verifying
 * changes nothing else).
 */
const OPEN_WHILE_SUSPENDED = new Set(['/v1/auth/login', '/v1/auth/refresh', '/v1/auth/verify-email']);

/**
 * Hono's `getPath` for the app: routes match `/t/<slug>/v1/…` as `/v1/…`, so one set of routes serves
 * both forms without mounting the app twice (which would duplicate middleware and the OpenAPI
 * document). `c.req.url` keeps the original path; `resolveTenant` reads the slug from it.
 */
export function tenantAwarePath(request: Request): string {
  const url = new URL(request.url);
  rememberUrl(request, url);
  const path = url.pathname;
  const match = PATH_PREFIX.exec(path);
  if (match) return match[2] ?? '/';
  return WELL_KNOWN_SUFFIX.exec(path)?.[1] ?? path;
}

export interface TenantResolutionDeps {
  db: Kysely<Tables>;
  /** Subdomains `<slug>.<baseDomain>` name a tenant (WARDEN_BASE_DOMAIN). */
  baseDomain: string;
  /** Warden's own host names: never looked up as a tenant's custom domain. */
  platformHosts?: readonly string[];
  /**
   * How long a lookup is reused at most (0: never); with `syncMs`, a change to the tenant's row drops
   * it sooner. A custom domain's lookup is kept at most DOMAIN_TTL_MS, a miss at most MISS_TTL_MS.
   */
  cacheTtlMs: number;
  /**
   * Keeps cached lookups current: once per `syncMs`, before a request is resolved, the `tenant_list`
   * rows changed since the last look (found by their `position`, which every change to a field a
   * lookup holds moves) drop their tenant's lookups. So a suspension, a deletion, a plan or limits
   * change made by any process reaches this one within `syncMs` of the list showing it, whatever
   * the TTL. Without it, lookups only expire.
   */
  syncMs?: number;
  /** Entries kept at most (least recently used go first). */
  cacheMax?: number;
  clock?: () => Date;
  /**
   * Read-your-writes for a slug the tenant list lacks: waits (bounded) until the list has passed the
   * tenant's creation when that tenant exists; true once it has (look again), false when there is no
   * such tenant, undefined when the list is still behind it. Without it, a miss is a miss.
   */
  catchUp?: (slug: string) => Promise<boolean | undefined>;
}

export interface TenantResolver {
  middleware: MiddlewareHandler<AppEnv>;
  /**
   * For platform routes (`/v1/tenants…`, `/v1/admin…`): a request that names no tenant goes on without
   * one; a request that names one resolves exactly as `middleware` does (unknown → 404).
   */
  optional: MiddlewareHandler<AppEnv>;
  /** Forgets every cached lookup (this process only). */
  clear(): void;
  /** Forgets the cached lookup of one host (this process only): its custom domain changed here. */
  forgetHost(host: string): void;
}

type Lookup = Omit<ResolvedTenant, 'via'> | null;
/** Longest a slug nobody holds is remembered as nobody's (a found tenant: the cache's TTL). */
const MISS_TTL_MS = 1000;
/**
 * Longest a custom domain's lookup is kept: a domain verified or removed elsewhere moves no row of
 * the tenant list, so the sync cannot see it.
 */
const DOMAIN_TTL_MS = 5000;

/** A host that is nobody's custom domain (cached too, so plain subdomain requests skip the query). */
const UNREGISTERED = 'unregistered' as const;
type Cached = Lookup | typeof UNREGISTERED;

const asTenant = (
  row: { id: string; slug: string; status: string; plan: string; limits: unknown } | undefined,
): Lookup => {
  if (!row || (row.status !== 'active' && row.status !== 'suspended')) return null;
  const limits = LimitOverrides.safeParse(
    typeof row.limits === 'string' ? JSON.parse(row.limits) : row.limits,
  );
  const tenant: NonNullable<Lookup> = { id: row.id, slug: row.slug, status: row.status, plan: row.plan };
  // Only when something is overridden: a tenant on its plan's limits reads exactly as before.
  if (limits.success && Object.keys(limits.data).length > 0) tenant.limits = limits.data;
  return tenant;
};

/**
 * Finds the tenant a tenant-scoped request acts in, in this order: path prefix `/t/<slug>/…`,
 * `X-Tenant: <slug>`, then the request's host: under the base domain only as subdomain
 * `<slug>.<baseDomain>` (never as anyone's custom domain, so no tenant can shadow another's
 * subdomain), elsewhere only as a verified custom domain (a pending claim serves nobody; Warden's own
 * hosts are nobody's). The first form present decides; an unknown or deleted tenant is 404 and
 * never falls back to a later form or another tenant. A suspended tenant is 403 on every call but
 * `POST /v1/auth/login` and `/v1/auth/refresh` (so its owner can still sign in) and email verification.
 */
export function resolveTenant(deps: TenantResolutionDeps): TenantResolver {
  const clock = deps.clock ?? (() => new Date());
  // A TTL of 0 caches nothing (lru-cache would read 0 as "never expires").
  const cache =
    deps.cacheTtlMs > 0
      ? new LRUCache<string, { value: Cached }>({
          max: deps.cacheMax ?? 10_000,
          ttl: deps.cacheTtlMs,
          ...cacheClock(clock),
        })
      : undefined;
  const tenants = deps.db.withTables<TenantListTables & TenantDomainTables>();
  const base = deps.baseDomain.toLowerCase().replace(/^\.+|\.+$/g, '');
  const domainTtlMs = Math.min(deps.cacheTtlMs, DOMAIN_TTL_MS);

  // The list's position up to which changes have been applied; unset until the first sync, which
  // only marks where the list stands (nothing was cached before it).
  let after: string | undefined;
  const fresh =
    cache && deps.syncMs !== undefined
      ? intervalSync(deps.syncMs, async () => {
          if (after === undefined) {
            const head = await tenants
              .selectFrom('tenant_list')
              .select((eb) => eb.fn.max('position').as('head'))
              .executeTakeFirst();
            after = String(head?.head ?? '0');
            return;
          }
          const changed = await tenants
            .selectFrom('tenant_list')
            .select(['id', 'slug', 'position'])
            .where('position', '>', after)
            .orderBy('position')
            .execute();
          if (changed.length === 0) return;
          const ids = new Set(changed.map((row) => row.id));
          const dropped = changed.map((row) => `slug:${row.slug}`);
          for (const [key, { value }] of cache.entries()) {
            if (key.startsWith('domain:') && value !== null && value !== UNREGISTERED && ids.has(value.id))
              dropped.push(key);
          }
          for (const key of dropped) cache.delete(key);
          after = String(changed.at(-1)?.position ?? after);
        })
      : undefined;
  const platformHosts = new Set(deps.platformHosts ?? []);

  /**
   * A lookup through the cache; `find` answers undefined for an answer not to be kept. A miss is kept
   * at most MISS_TTL_MS: a tenant created meanwhile (by any process) is found within it.
   */
  async function cached(key: string, find: () => Promise<Lookup | undefined>): Promise<Lookup> {
    const hit = cache?.get(key);
    if (hit) return hit.value === UNREGISTERED ? null : hit.value;
    const value = await find();
    if (value === null) cache?.set(key, { value }, { ttl: Math.min(deps.cacheTtlMs, MISS_TTL_MS) });
    else if (value !== undefined) cache?.set(key, { value });
    return value ?? null;
  }

  const listed = async (slug: string) =>
    tenants
      .selectFrom('tenant_list')
      .select(['id', 'slug', 'status', 'plan', 'limits'])
      .where('slug', '=', slug)
      .executeTakeFirst();

  // A tenant created a moment ago (here or by another process) may not be listed yet: its first
  // requests must not be 404, and that 404 must not be kept for the cache's TTL.
  const bySlug = (slug: string) =>
    cached(`slug:${slug}`, async () => {
      const row = await listed(slug);
      if (row || !deps.catchUp) return asTenant(row);
      const reached = await deps.catchUp(slug);
      if (reached === undefined) return undefined;
      return reached ? asTenant(await listed(slug)) : null;
    });

  /** undefined: not a verified custom domain; null: verified for a tenant that is gone. */
  const byDomain = async (host: string): Promise<Lookup | undefined> => {
    const hit = cache?.get(`domain:${host}`);
    if (hit) return hit.value === UNREGISTERED ? undefined : hit.value;
    const row = await tenants
      .selectFrom('tenant_domain')
      .innerJoin('tenant_list', 'tenant_list.id', 'tenant_domain.tenant_id')
      .select([
        'tenant_list.id',
        'tenant_list.slug',
        'tenant_list.status',
        'tenant_list.plan',
        'tenant_list.limits',
      ])
      .where('tenant_domain.domain', '=', host)
      .where('tenant_domain.verified_at', 'is not', null)
      .executeTakeFirst();
    if (row === undefined) {
      cache?.set(`domain:${host}`, { value: UNREGISTERED }, { ttl: domainTtlMs });
      return undefined;
    }
    const value = asTenant(row);
    cache?.set(`domain:${host}`, { value }, { ttl: domainTtlMs });
    return value;
  };

  const resolve =
    (required: boolean): MiddlewareHandler<AppEnv> =>
    async (c, next) => {
      await fresh?.();
      const url = requestUrl(c.req.raw);
      const notFound = (detail: string) => problemResponse(c, 404, 'tenant-not-found', detail);

      let found: Lookup | undefined;
      let via: ResolvedTenant['via'];
      const pathSlug = PATH_PREFIX.exec(url.pathname)?.[1] ?? WELL_KNOWN_SUFFIX.exec(url.pathname)?.[2];
      const headerSlug = c.req.header('x-tenant')?.trim().toLowerCase();
      const host = url.hostname.toLowerCase().replace(/\.$/, '');

      if (pathSlug !== undefined || headerSlug !== undefined) {
        const slug = (pathSlug ?? headerSlug ?? '').toLowerCase();
        if (pathSlug !== undefined && headerSlug !== undefined && headerSlug !== slug) {
          return problemResponse(
            c,
            400,
            'tenant-ambiguous',
            `the path names tenant "${slug}" but X-Tenant names "${headerSlug}"`,
          );
        }
        via = pathSlug !== undefined ? 'path' : 'header';
        found = SLUG_SHAPE.test(slug) ? await bySlug(slug) : null;
        if (!found) return notFound(`no tenant "${slug}"`);
      } else {
        const underBase = base !== '' && (host === base || host.endsWith(`.${base}`));
        if (underBase) {
          via = 'subdomain';
          if (host !== base) {
            const label = host.slice(0, -base.length - 1);
            found = SLUG_SHAPE.test(label) ? await bySlug(label) : null;
          }
        } else {
          via = 'domain';
          if (!platformHosts.has(host)) found = await byDomain(host);
        }
        if (found === undefined && !required) return next();
        if (!found) {
          return notFound(
            found === null
              ? `no tenant at ${host}`
              : 'name a tenant: /t/<slug>/…, X-Tenant: <slug>, its custom domain or <slug>.' +
                  (base || '<base domain>'),
          );
        }
      }

      if (
        found.status === 'suspended' &&
        !(c.req.method === 'POST' && OPEN_WHILE_SUSPENDED.has(c.req.path))
      ) {
        return problemResponse(c, 403, 'tenant-suspended', `the tenant "${found.slug}" is suspended`);
      }
      // Built field by field: Node 20's V8 copies `{ ...found, via }` on a slow path (every request),
      // and the copy it makes is slow to read too (the rate limit reads it on every request).
      const tenant: ResolvedTenant = {
        id: found.id,
        slug: found.slug,
        status: found.status,
        plan: found.plan,
        via,
      };
      if (found.limits) tenant.limits = found.limits;
      c.set('tenant', tenant);
      return next();
    };

  return {
    middleware: resolve(true),
    optional: resolve(false),
    clear: () => cache?.clear(),
    forgetHost: (host) => void cache?.delete(`domain:${host}`),
  };
}
