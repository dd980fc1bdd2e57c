import { invalidGrant, OAuthError } from '../errors.ts';
import { param, required } from '../params.ts';
import type { Grant } from './grant.ts';

const REFUSED = {
  invalid: 'the refresh token is not valid for this client',
  expired: 'the refresh token has expired',
  revoked: 'the refresh token was revoked',
  reused: 'the refresh token was used already: the whole grant is revoked',
  user_gone: 'the user is no longer active',
  tenant_suspended: 'the tenant is suspended',
  dpop_mismatch: 'the refresh token is bound to another DPoP key',
} as const;

/** Refresh with rotation (RFC 6749 §6, RFC 9700 §4.14): a reused refresh token revokes the whole grant. */
export const refreshTokenGrant: Grant = async (request, server) => {
  const { form, client } = request;
  const refreshToken = required(form, 'refresh_token', 200);
  const requested = param(form, 'scope');
  const scope = requested === undefined ? undefined : requested.split(' ').filter(Boolean);
  // A bound refresh token names its key itself: the proof is checked against it, not required here.
  const proof = await request.dpop();
  const result = await server.tokens.refresh(refreshToken, request.tenantId, request.requestId, {
    clientId: client.clientId,
    dpopJkt: proof?.jkt,
    scope,
  });
  if (!result.ok) {
    if (result.reason === 'invalid_scope') {
      throw new OAuthError('invalid_scope', 'a refresh may narrow the granted scope, never widen it');
    }
    throw invalidGrant(REFUSED[result.reason]);
  }
  return { ...result.pair };
};
