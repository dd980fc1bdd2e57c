import { createRoute, OpenAPIHono } from '@hono/zod-openapi';
import { z } from 'zod';
import { notFound } from '../../commands/kernel/index.ts';
import {
  challengeRecordName,
  changeTenantDomain,
  DomainName,
  type DomainOwnershipResolver,
  type DomainState,
  findTenantDomain,
  type ReservedHosts,
} from '../../commands/tenancy/index.ts';
import { randomToken } from '../../identity/index.ts';
import type { TenantDomainTables } from '../../projections/tenancy/index.ts';
import type { AppEnv } from '../kit/index.ts';
import { commandContext, jsonContent, problemContent, validationHook } from '../kit/index.ts';
import type { TenantAdminRouteDeps } from './tenant-admin.ts';
import { liveTenant, tenantAdminGuard, tenantAdminProblems } from './tenant-admin.ts';

export interface DomainRouteDeps extends TenantAdminRouteDeps {
  domains: {
    /** Where verification reads the `_warden-challenge.<domain>` TXT record. */
    ownership: DomainOwnershipResolver;
    reserved: ReservedHosts;
    /** Called with a domain whose claim changed here (tenant resolution forgets its cached lookup). */
    changed(domain: string): void;
  };
}

const IdParam = z.object({ id: z.uuid() });
const DomainParam = z.object({ id: z.uuid(), domain: DomainName });
const AddDomainBody = z.strictObject({ domain: DomainName });
const Domain = z
  .object({
    domain: z.string(),
    tenant_id: z.uuid(),
    added_at: z.iso.datetime(),
    status: z.enum(['pending', 'verified']).meta({
      description: 'pending: serves nobody until the TXT record proves the tenant controls the domain',
    }),
    verified_at: z.iso.datetime().nullable(),
    verification: z
      .object({
        type: z.literal('TXT'),
        name: z.string().meta({ example: '_warden-challenge.packages.example.com' }),
        value: z.string(),
      })
      .meta({ description: 'The DNS record to create, then call …/verify' }),
  })
  .meta({ id: 'TenantDomain' });
type Domain = z.infer<typeof Domain>;
const DomainWritten = Domain.extend({ position: z.string() });

const view = (row: {
  domain: string;
  tenantId: string;
  addedAt: string;
  verificationToken: string;
  verifiedAt: string | null;
}): Domain => ({
  domain: row.domain,
  tenant_id: row.tenantId,
  added_at: row.addedAt,
  status: row.verifiedAt ? 'verified' : 'pending',
  verified_at: row.verifiedAt,
  verification: { type: 'TXT', name: challengeRecordName(row.domain), value: row.verificationToken },
});

/** The domain as the command left it (held by the tenant: the command has just said so). */
const fromState = (state: DomainState): Domain =>
  view({
    domain: state.domain,
    tenantId: state.tenantId ?? '',
    addedAt: state.addedAt ?? '',
    verificationToken: state.verificationToken ?? '',
    verifiedAt: state.verifiedAt,
  });

/**
 * A tenant's custom domains (owner or platform superadmin), served the way hosting platforms do it: a
 * new domain is pending with a TXT record to create; verifying it checks that record through DNS, and
 * only then does the domain serve the tenant.
 */
export function domainRoutes(deps: DomainRouteDeps) {
  const app = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });
  const db = deps.db.withTables<TenantDomainTables>();
  const now = () => deps.clock().toISOString();

  app.openapi(
    createRoute({
      method: 'get',
      path: '/{id}/domains',
      tags: ['Tenants'],
      summary: "List a tenant's custom domains, pending and verified",
      middleware: tenantAdminGuard,
      request: { params: IdParam },
      responses: {
        200: jsonContent(z.object({ items: z.array(Domain) }), 'The domains'),
        ...tenantAdminProblems,
      },
    }),
    async (c) => {
      const { id } = c.req.valid('param');
      await liveTenant(deps.store, id);
      await deps.readModels.awaitPosition(c, ['tenantDomains']);
      const rows = await db
        .selectFrom('tenant_domain')
        .selectAll()
        .where('tenant_id', '=', id)
        .orderBy('domain')
        .limit(1000)
        .execute();
      const items = rows.map((r) =>
        view({
          domain: r.domain,
          tenantId: r.tenant_id,
          addedAt: new Date(r.added_at).toISOString(),
          verificationToken: r.verification_token,
          verifiedAt: r.verified_at === null ? null : new Date(r.verified_at).toISOString(),
        }),
      );
      return c.json({ items }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'post',
      path: '/{id}/domains',
      tags: ['Tenants'],
      summary: 'Claim a custom domain for a tenant: pending until its TXT record is verified',
      description:
        'Refused (422) for the base domain, any name under it (tenant subdomains) and Warden’s own host names. ' +
        'A domain another tenant has verified is refused (409); a claim nobody has proven does not block a new one.',
      middleware: tenantAdminGuard,
      request: {
        params: IdParam,
        body: { content: { 'application/json': { schema: AddDomainBody } }, required: true },
      },
      responses: {
        201: jsonContent(DomainWritten, 'Claimed: create the TXT record, then verify'),
        200: jsonContent(DomainWritten, 'The tenant already had it'),
        ...tenantAdminProblems,
        409: problemContent('Another tenant has verified the domain'),
        422: problemContent('A name no tenant may claim (`errors` names the field)'),
      },
    }),
    async (c) => {
      const { id } = c.req.valid('param');
      const { domain } = c.req.valid('json');
      await liveTenant(deps.store, id);
      const result = await changeTenantDomain(
        deps.store,
        {
          type: 'AddTenantDomain',
          tenantId: id,
          domain,
          verificationToken: randomToken(256),
          reserved: deps.domains.reserved,
          at: now(),
        },
        commandContext(c, { tenantId: id }),
      );
      const added = result.events.length > 0;
      if (added) deps.domains.changed(domain);
      c.header('Location', `/v1/tenants/${id}/domains/${domain}`);
      c.header('X-Position', result.position.toString());
      return c.json({ ...fromState(result.state), position: result.position.toString() }, added ? 201 : 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'post',
      path: '/{id}/domains/{domain}/verify',
      tags: ['Tenants'],
      summary: 'Verify a custom domain through its TXT record `_warden-challenge.<domain>`',
      description:
        'Looks the TXT record up now; when one of its values is the claim’s token the domain is verified ' +
        'and serves the tenant. Verifying a verified domain changes nothing.',
      middleware: tenantAdminGuard,
      request: { params: DomainParam },
      responses: {
        200: jsonContent(DomainWritten, 'Verified (now or before)'),
        ...tenantAdminProblems,
        409: problemContent(
          'The TXT record does not hold the token: the problem says what was expected and found',
        ),
      },
    }),
    async (c) => {
      const { id, domain } = c.req.valid('param');
      await liveTenant(deps.store, id);
      let found: string[] = [];
      let lookupError: string | undefined;
      try {
        const records = await deps.domains.ownership.resolveTxt(challengeRecordName(domain));
        found = records.map((chunks) => chunks.join(''));
      } catch (error) {
        lookupError = `the DNS lookup failed: ${(error as { code?: string }).code ?? 'error'}`;
      }
      const result = await changeTenantDomain(
        deps.store,
        {
          type: 'VerifyTenantDomain',
          tenantId: id,
          domain,
          found,
          ...(lookupError ? { lookupError } : {}),
          at: now(),
        },
        commandContext(c, { tenantId: id }),
      );
      if (result.events.length > 0) deps.domains.changed(domain);
      c.header('X-Position', result.position.toString());
      return c.json({ ...fromState(result.state), position: result.position.toString() }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/{id}/domains/{domain}',
      tags: ['Tenants'],
      summary: 'One of a tenant’s custom domains, pending or verified (from its events: always current)',
      middleware: tenantAdminGuard,
      request: { params: DomainParam },
      responses: { 200: jsonContent(Domain, 'The domain'), ...tenantAdminProblems },
    }),
    async (c) => {
      const { id, domain } = c.req.valid('param');
      await liveTenant(deps.store, id);
      const state = await findTenantDomain(deps.store, domain);
      if (state.tenantId !== id) throw notFound('domain');
      return c.json(fromState(state), 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'delete',
      path: '/{id}/domains/{domain}',
      tags: ['Tenants'],
      summary: 'Stop serving a tenant on a custom domain (another tenant may then claim it)',
      middleware: tenantAdminGuard,
      request: { params: DomainParam },
      responses: { 204: { description: 'Removed' }, ...tenantAdminProblems },
    }),
    async (c) => {
      const { id, domain } = c.req.valid('param');
      await liveTenant(deps.store, id);
      const result = await changeTenantDomain(
        deps.store,
        { type: 'RemoveTenantDomain', tenantId: id, domain, at: now() },
        commandContext(c, { tenantId: id }),
      );
      deps.domains.changed(domain);
      c.header('X-Position', result.position.toString());
      return c.body(null, 204);
    },
  );

  return app;
}
