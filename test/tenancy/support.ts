import { changeTenantDomain } from '../../src/commands/tenancy/domains.ts';
import { createTenant, updateTenant } from '../../src/commands/tenancy/index.ts';
import type { PlanId } from '../../src/commands/tenancy/plans.ts';
import type { TenantCommand } from '../../src/commands/tenancy/tenant.ts';
import type { EventStore } from '../../src/eventstore/port.ts';
import type { ProjectionEngine } from '../../src/projections/engine/engine.ts';

let counter = 0;
/** A slug no other test (or earlier run on a shared server) uses. */
export const uniqueSlug = (base = 'acme') => `${base}-${Date.now().toString(36)}-${counter++}`;

/** As the test app is configured (test/support/app.ts): tenant subdomains under warden.test. */
const reserved = { baseDomain: 'warden.test', platformHosts: [] };
const context = { metadata: { requestId: 'test', correlationId: 'test' } };
const at = () => new Date().toISOString();

/** Tenant commands run directly, each waiting until the read models tenant resolution uses show it. */
export function tenantFixtures(store: EventStore, engine: ProjectionEngine) {
  const settle = async (position: bigint) => {
    const reached = await engine.waitFor(['tenantList', 'tenantDomains'], position, 5000);
    if (!reached) throw new Error(`read models did not reach ${position}`);
  };
  return {
    async create(plan: PlanId = 'free', slug = uniqueSlug()) {
      const result = await createTenant(store, { slug, name: slug, plan, at: at() }, context);
      await settle(result.position);
      return { id: result.state.tenantId, slug };
    },
    async change(id: string, command: Exclude<TenantCommand, { type: 'CreateTenant' }>) {
      const result = await updateTenant(store, id, command, {
        metadata: { ...context.metadata, tenantId: id },
      });
      await settle(result.position);
    },
    /** Claims a custom domain for the tenant and, unless told otherwise, verifies it as its TXT record would. */
    async addDomain(tenantId: string, domain: string, verified = true) {
      const scope = { metadata: { ...context.metadata, tenantId } };
      let result = await changeTenantDomain(
        store,
        {
          type: 'AddTenantDomain',
          tenantId,
          domain,
          verificationToken: `token-${crypto.randomUUID()}`,
          reserved,
          at: at(),
        },
        scope,
      );
      if (verified) {
        // What the TXT record would hold: the token of the claim as it stands (an earlier one when re-added).
        const found = [result.state.verificationToken ?? ''];
        result = await changeTenantDomain(
          store,
          { type: 'VerifyTenantDomain', tenantId, domain, found, at: at() },
          scope,
        );
      }
      await settle(result.position);
    },
    async removeDomain(tenantId: string, domain: string) {
      const result = await changeTenantDomain(
        store,
        { type: 'RemoveTenantDomain', tenantId, domain, at: at() },
        { metadata: { ...context.metadata, tenantId } },
      );
      await settle(result.position);
    },
  };
}
