import { type IdentityEvent, permissionsOf } from '../../commands/identity/index.ts';
import { revokeFamilies, tokenFamilyStreamId } from '../../identity/tokens/index.ts';
import { defineProcessManager } from '../runtime/index.ts';

const NAME = 'userSessions';

type Handled = Extract<IdentityEvent, { type: 'UserRemoved' | 'UserRoleChanged' }>;

/** True when the new role lacks a permission the old one had (owner → admin, admin → member…). */
function lowered(from: Parameters<typeof permissionsOf>[0], to: Parameters<typeof permissionsOf>[0]) {
  const kept = permissionsOf(to);
  return [...permissionsOf(from)].some((p) => !kept.has(p));
}

/**
 * A user removed from a tenant (identity's `UserRemoved`, an erasure too) loses every live session
 * there at once: each of their token families in the tenant is revoked (`TokenFamilyRevoked`, reason
 * `user_gone`) in the handling transaction. Access tokens name their family, so every process refuses
 * them within its revocation sync interval — the user's own logins and the OAuth grants they gave
 * clients alike — instead of honouring them until they expire. A refresh already refused a removed
 * user; this closes the access token's remaining minutes. Re-handling revokes nothing twice (only
 * families still live are updated, and the events' ids derive from the removal's).
 *
 * A role that loses permissions (`UserRoleChanged` to a lesser role) ends the user's sessions the same
 * way, reason `role_lowered`: access tokens carry the role they were issued with, so an admin demoted
 * to member would otherwise act as an admin until the token expired. The next sign-in carries the new
 * role. A promotion ends nothing: the old tokens only claim less.
 */
export const userSessions = defineProcessManager<unknown, Handled>({
  name: NAME,
  types: ['UserRemoved', 'UserRoleChanged'],
  async handle(event, ctx) {
    if (event.type === 'UserRoleChanged' && !lowered(event.data.from, event.data.to)) return;
    const reason = event.type === 'UserRemoved' ? 'user_gone' : 'role_lowered';
    const { tenantId, userId, at } = event.data;
    const revoked = await revokeFamilies(ctx.db, { tenantId, userId }, reason, at);
    for (const { family_id: familyId } of revoked) {
      await ctx.emit(tokenFamilyStreamId(familyId), [
        { type: 'TokenFamilyRevoked', data: { familyId, reason, revokedAt: at } },
      ]);
    }
  },
});
