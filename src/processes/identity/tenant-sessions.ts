import type { TenancyEvent } from '../../commands/tenancy/index.ts';
import { revokeFamilies, tokenFamilyStreamId } from '../../identity/tokens/index.ts';
import { forgetDeletedTenant } from '../../oauth/index.ts';
import { defineProcessManager } from '../runtime/index.ts';

const NAME = 'tenantSessions';

type Handled = Extract<TenancyEvent, { type: 'TenantDeleted' }>;

/**
 * A deleted tenant (`TenantDeleted`) keeps no live session: every token family of it is revoked
 * (`TokenFamilyRevoked`, reason `tenant_deleted`) in the handling transaction — its users' own
 * sign-ins and the OAuth grants they gave clients alike, refresh tokens and the access tokens that
 * name those families — and the same transaction deletes the tenant's authorization codes not yet
 * redeemed, its authorization server's browser sign-in sessions and its pending authorization requests
 * (pushed request_uris, open sign-in and consent pages) instead of leaving them to expire.
 * A deleted tenant does not resolve, so all of these answer 404 today; revoked or deleted, they are
 * worth nothing should the tenant ever resolve again (a restored slug, a custom domain, a change in
 * resolution). Only the deleted tenant's rows are touched. Re-handling revokes and deletes nothing
 * twice (only families still live are updated, the events' ids derive from the deletion's, and
 * deleted rows stay gone); seen for the first time, it starts from the beginning, so tenants deleted
 * before it existed are handled too. Deletions it had handled before it deleted codes, sessions and
 * requests are not revisited: theirs expire and are swept as before.
 */
export const tenantSessions = defineProcessManager<unknown, Handled>({
  name: NAME,
  types: ['TenantDeleted'],
  async handle(event, ctx) {
    const { tenantId, at } = event.data;
    const revoked = await revokeFamilies(ctx.db, { tenantId }, 'tenant_deleted', at);
    for (const { family_id: familyId } of revoked) {
      await ctx.emit(tokenFamilyStreamId(familyId), [
        { type: 'TokenFamilyRevoked', data: { familyId, reason: 'tenant_deleted', revokedAt: at } },
      ]);
    }
    await forgetDeletedTenant(ctx.db, tenantId);
  },
});
