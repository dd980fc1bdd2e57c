import type { IdentityEvent } from '../../commands/identity/index.ts';
import { revokeFamilies, tokenFamilyStreamId } from '../../identity/tokens/index.ts';
import { defineProcessManager } from '../runtime/index.ts';

const NAME = 'userSessions';

/**
 * A user removed from a tenant (identity's `UserRemoved`, an erasure too) loses every live session
 * there at once: each of their token families in the tenant is revoked (`TokenFamilyRevoked`, reason
 * `user_gone`) in the handling transaction. Access tokens name their family, so every process refuses
 * them within its revocation sync interval — the user's own logins and the OAuth grants they gave
 * clients alike — instead of honouring them until they expire. A refresh already refused a removed
 * user; this closes the access token's remaining minutes. Re-handling revokes nothing twice (only
 * families still live are updated, and the events' ids derive from the removal's).
 */
export const userSessions = defineProcessManager<unknown, Extract<IdentityEvent, { type: 'UserRemoved' }>>({
  name: NAME,
  types: ['UserRemoved'],
  async handle(event, ctx) {
    const { tenantId, userId, at } = event.data;
    const revoked = await revokeFamilies(ctx.db, { tenantId, userId }, 'user_gone', at);
    for (const { family_id: familyId } of revoked) {
      await ctx.emit(tokenFamilyStreamId(familyId), [
        { type: 'TokenFamilyRevoked', data: { familyId, reason: 'user_gone', revokedAt: at } },
      ]);
    }
  },
});
