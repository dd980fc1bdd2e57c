import type { IdentityEvent } from '../../commands/identity/index.ts';
import { npmTokenStreamId, revokeTokensIssuedBy } from '../../packages/index.ts';
import { defineProcessManager } from '../runtime/index.ts';

type Handled = Extract<IdentityEvent, { type: 'UserRemoved' }>;

/**
 * A member who leaves a tenant (identity's `UserRemoved`, an erasure too) takes the npm read tokens
 * they issued there with them: each is revoked (`NpmTokenRevoked`, reason `issuer_gone`) in the
 * handling transaction, so a token minted the day before leaving does not keep reading the tenant's
 * packages afterwards. Any member may issue one, and it is a bearer secret its issuer saw. A CI job
 * that used it needs a new token from someone still in the tenant. Re-handling revokes nothing twice
 * (only live tokens are updated, and the events' ids derive from the removal's); tokens issued after
 * the removal (the user added again) stay.
 */
export const npmTokenIssuers = defineProcessManager<unknown, Handled>({
  name: 'npmTokenIssuers',
  types: ['UserRemoved'],
  async handle(event, ctx) {
    const { tenantId, userId, at } = event.data;
    const revoked = await revokeTokensIssuedBy(ctx.db, {
      tenantId,
      userId,
      at,
      by: event.metadata.actorId ?? ctx.processName,
    });
    for (const tokenId of revoked) {
      await ctx.emit(npmTokenStreamId(tokenId), [
        { type: 'NpmTokenRevoked', data: { tokenId, revokedAt: at, reason: 'issuer_gone' } },
      ]);
    }
  },
});
