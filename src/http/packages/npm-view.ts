import { type Context, Hono, type MiddlewareHandler } from 'hono';
import type { Kysely } from 'kysely';
import type { Tables } from '../../db/tables.ts';
import type { NpmTokenStore, ViewSource } from '../../packages/index.ts';
import {
  decisionOf,
  highestVersion,
  parseTarballPath,
  RegistryError,
  type TenantDecision,
  tenantPackument,
  validPackageName,
  verifiedStream,
} from '../../packages/index.ts';
import type { PackageListTables } from '../../projections/packages/index.ts';
import { tenantVersion, tenantVersions } from '../../projections/packages/index.ts';
import type { AppEnv } from '../kit/index.ts';
import { problemResponse, readTables } from '../kit/index.ts';

export interface NpmViewDeps {
  db: Kysely<Tables>;
  /** Resolves the tenant (`/t/<slug>/npm/…` reaches these routes as `/npm/…`). */
  tenants: MiddlewareHandler<AppEnv>;
  tokens: Pick<NpmTokenStore, 'verify'>;
  /** The secure registry (absent: WARDEN_TARGET_REGISTRY is unset, and the view answers 503). */
  source?: ViewSource | undefined;
}

// RFC 6750 token68, as npm sends `_authToken` from `.npmrc`.
const BEARER = /^Bearer +([A-Za-z0-9\-._~+/]+=*)$/i;

/** Nothing one tenant reads here may be served to another from a shared cache, nor kept after a decision changes. */
const PRIVATE = { 'cache-control': 'private, no-cache', vary: 'Authorization' };

const DECISION_TEXT: Record<TenantDecision, string> = {
  allowed: 'let in',
  rejected: 'rejected',
  awaiting_approval: 'awaiting approval',
  in_progress: 'still being checked',
  failed: 'its checks failed',
  unknown: 'never requested',
};

/**
 * A tenant's own npm registry, `/t/<slug>/npm/` (or `/npm/` on its domain): packuments cut to the
 * versions this tenant let in, tarballs streamed from the secure registry, everything else a 403
 * naming the package, the version and this tenant's decision. One secure registry holds what every
 * tenant let in; this view is what keeps a version another tenant approved out of this tenant's
 * installs. Read with a tenant's npm token (`POST /v1/npm-tokens`), which `.npmrc` sends as
 * `Authorization: Bearer`; the token of another tenant is not valid here (401).
 */
export function npmViewRoutes(deps: NpmViewDeps) {
  const app = new Hono<AppEnv>();
  const db = readTables<PackageListTables>(deps.db);
  app.use('/npm/*', deps.tenants);
  app.use('/npm/*', async (c, next) => {
    const tenant = c.get('tenant');
    const secret = BEARER.exec(c.req.header('authorization')?.trim() ?? '')?.[1];
    if (!tenant || secret === undefined || !(await deps.tokens.verify(tenant.id, secret))) {
      c.header('WWW-Authenticate', 'Bearer realm="warden-npm"');
      return problemResponse(
        c,
        401,
        'invalid-token',
        "send this tenant's npm token: Authorization: Bearer <token>",
      );
    }
    return next();
  });

  app.get('/npm/*', async (c) => {
    const tenant = c.get('tenant')!;
    const rest = c.req.path.slice('/npm/'.length);
    if (rest.includes('/-/')) {
      const tarball = parseTarballPath(rest);
      if (!tarball) return problemResponse(c, 404, 'not-found', 'not a tarball of this registry');
      return serveTarball(c, tenant, tarball.name, tarball.version);
    }
    let name: string;
    try {
      name = decodeURIComponent(rest);
    } catch {
      return problemResponse(c, 404, 'not-found', 'not a package name');
    }
    if (!validPackageName(name)) return problemResponse(c, 404, 'not-found', 'not a package name');
    return servePackument(c, tenant, name);
  });
  app.all('/npm/*', (c) => {
    c.header('Allow', 'GET, HEAD');
    return problemResponse(c, 405, 'method-not-allowed', 'this registry view is read-only');
  });

  /** The 403 every refused version gets: the package, the version and what this tenant decided. */
  /**
   * The 403 every refused version gets: the package, the version and what this tenant decided. A
   * packument refused as a whole names the version when the tenant asked for one only, and lists the
   * decision on each version it asked for in `decisions`.
   */
  function refused(
    c: Context<AppEnv>,
    slug: string,
    refusal: {
      name: string;
      version: string | null;
      decision: TenantDecision;
      decisions?: Record<string, TenantDecision>;
    },
    detail: string,
  ) {
    return problemResponse(c, 403, 'package-not-allowed', detail, {
      package: refusal.name,
      version: refusal.version,
      decision: refusal.decision,
      ...(refusal.decisions ? { decisions: refusal.decisions } : {}),
      tenant: slug,
      // npm prints a registry's `error` field after the status line.
      error: detail,
    });
  }

  function unavailable(c: Context<AppEnv>, error: unknown) {
    if (!(error instanceof RegistryError)) throw error;
    c.get('logger')().warn({ err: error.message }, 'npm view: the secure registry failed');
    return problemResponse(c, 502, 'registry-unavailable', 'the secure registry did not answer as expected');
  }

  async function servePackument(c: Context<AppEnv>, tenant: { id: string; slug: string }, name: string) {
    const rows = await tenantVersions(db, tenant.id, name);
    const allowed = rows.filter((r) => decisionOf(r.status) === 'allowed');
    if (allowed.length === 0) {
      const decisions = Object.fromEntries(rows.map((r) => [r.version, decisionOf(r.status)]));
      const decided = Object.entries(decisions)
        .map(([version, decision]) => `${version} ${DECISION_TEXT[decision]}`)
        .join(', ');
      // The version named is the one npm would pick (the highest asked for); `decisions` has them all.
      const named = highestVersion(rows.map((r) => r.version)) ?? rows[0]?.version ?? null;
      return refused(
        c,
        tenant.slug,
        {
          name,
          version: named,
          decision: named === null ? 'unknown' : (decisions[named] ?? 'unknown'),
          decisions,
        },
        `no version of ${name} is let in for tenant "${tenant.slug}"${decided ? ` (${decided})` : ' (never requested)'}`,
      );
    }
    if (!deps.source)
      return problemResponse(c, 503, 'no-secure-registry', 'no secure registry is configured');
    let source: Awaited<ReturnType<ViewSource['packument']>>;
    try {
      source = await deps.source.packument(name, c.req.raw.signal);
    } catch (error) {
      return unavailable(c, error);
    }
    if (!source) return problemResponse(c, 404, 'not-published', `${name} is let in but not published yet`);
    const prefix = `${new URL(c.req.url).origin}${viewPrefix(c)}`;
    const bare = name.slice(name.indexOf('/') + 1);
    const view = tenantPackument(source, allowed, (version) => `${prefix}${name}/-/${bare}-${version}.tgz`);
    return c.json(view, 200, PRIVATE);
  }

  async function serveTarball(
    c: Context<AppEnv>,
    tenant: { id: string; slug: string },
    name: string,
    version: string,
  ) {
    const row = await tenantVersion(db, tenant.id, name, version);
    const decision = decisionOf(row?.status);
    if (!row || decision !== 'allowed') {
      return refused(
        c,
        tenant.slug,
        { name, version, decision },
        `${name}@${version} is not let in for tenant "${tenant.slug}": ${DECISION_TEXT[decision]}`,
      );
    }
    if (!deps.source)
      return problemResponse(c, 503, 'no-secure-registry', 'no secure registry is configured');
    let upstream: Response;
    try {
      const source = await deps.source.packument(name, c.req.raw.signal);
      const held = (
        source?.versions as Record<string, { dist?: { integrity?: unknown; tarball?: unknown } }>
      )?.[version];
      if (!held)
        return problemResponse(c, 404, 'not-published', `${name}@${version} is let in but not published yet`);
      // Only the bytes this tenant's checks recorded: the secure registry never overwrites a version, but it is checked.
      if (
        row.integrity !== null &&
        typeof held.dist?.integrity === 'string' &&
        held.dist.integrity !== row.integrity
      ) {
        c.get('logger')().warn(
          { spec: `${name}@${version}` },
          'npm view: the secure registry holds other bytes',
        );
        return problemResponse(
          c,
          502,
          'integrity-mismatch',
          `the secure registry holds other bytes for ${name}@${version}`,
        );
      }
      upstream = await deps.source.tarball(name, version, held.dist?.tarball, c.req.raw.signal);
    } catch (error) {
      return unavailable(c, error);
    }
    if (!upstream.ok || !upstream.body) {
      await upstream.body?.cancel().catch(() => undefined);
      return upstream.status === 404
        ? problemResponse(c, 404, 'not-published', `${name}@${version} is let in but not published yet`)
        : unavailable(c, new RegistryError('unavailable', `the secure registry answered ${upstream.status}`));
    }
    const length = upstream.headers.get('content-length');
    // Streamed through as it arrives (a large tarball is never held in memory whole), checked on the
    // way against the integrity this tenant's checks recorded: other bytes end short and fail.
    const body = row.integrity === null ? upstream.body : verifiedStream(upstream.body, row.integrity);
    return new Response(body, {
      status: 200,
      headers: {
        'content-type': 'application/octet-stream',
        ...(length === null ? {} : { 'content-length': length }),
        ...PRIVATE,
      },
    });
  }

  return app;
}

/** The path the client reached this view at (`/t/<slug>/npm/` or `/npm/`), so tarball links go back the same way. */
function viewPrefix(c: Context<AppEnv>): string {
  const original = new URL(c.req.url).pathname;
  return `${original.slice(0, original.length - c.req.path.length)}/npm/`;
}
