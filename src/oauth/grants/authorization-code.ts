import { predatesCredentials } from '../authorization/sign-in.ts';
import { invalidGrant } from '../errors.ts';
import { authorizationStreamId } from '../events.ts';
import { param, required } from '../params.ts';
import { type Grant, grantMetadata, idTokenFor, proofFor, requestRef, userTokenResponse } from './grant.ts';

const REFUSED = {
  unknown: 'the authorization code is not valid',
  expired: 'the authorization code has expired',
  wrong_client: 'the authorization code was issued to another client',
  wrong_redirect: 'redirect_uri differs from the authorization request',
  pkce: 'code_verifier is missing or does not match the code_challenge',
  reused: 'the authorization code was used already; the tokens issued from it are revoked',
} as const;

/** The one-time id both an exchange and any replay of the same code take: whoever is second learns of the other. */
const replayMark = (codeId: string) => `code-exchange:${codeId}`;
/** Kept as long as a used code is (the sweep keeps codes a day past their expiry). */
const markExpiry = (now: Date) => new Date(now.getTime() + 2 * 86_400_000);

/** The authorization code grant with PKCE (RFC 6749 §4.1, RFC 7636); a replayed code revokes what it issued. */
export const authorizationCodeGrant: Grant = async (request, server) => {
  const { client, tenantId, now, form, requestId } = request;
  const code = required(form, 'code', 200);
  // Every code has a PKCE challenge, so a missing verifier fails it like a wrong one: invalid_grant,
  // and the code is used up by the attempt (RFC 7636 §4.6, RFC 9700 §2.1.1).
  const verifier = param(form, 'code_verifier', 200) ?? '';
  const proof = await proofFor(request);
  const redeemed = await server.codes.redeem(code, tenantId, {
    clientId: client.clientId,
    redirectUri: param(form, 'redirect_uri'),
    verifier,
  });
  if (!redeemed.ok) {
    if (redeemed.reason === 'reused') {
      // RFC 6749 §4.1.2 and RFC 9700 §4.5.3.1: a replayed code revokes what it issued. The replay is
      // marked first and the family read after, so an exchange still running finds the mark (below).
      const { codeId } = redeemed.grant;
      await server.replay.firstUse(replayMark(codeId), markExpiry(now));
      const familyId = (await server.codes.familyOf(codeId)) ?? redeemed.familyId;
      if (familyId) await server.tokens.revoke(familyId, 'code_reused', requestId);
      await server.record(
        authorizationStreamId(codeId),
        'OAuthAuthorizationCodeReplayed',
        { codeId, clientId: client.clientId, familyId, at: now.toISOString() },
        grantMetadata(request, client.clientId),
      );
    }
    throw invalidGrant(REFUSED[redeemed.reason]);
  }
  const { grant } = redeemed;
  if (grant.dpopJkt && grant.dpopJkt !== proof?.jkt) {
    throw invalidGrant('the code is bound to another DPoP key (dpop_jkt)');
  }
  const user = await server.users.current(tenantId, grant.userId);
  if (!user) throw invalidGrant('the user is no longer active');
  if (predatesCredentials(grant.authTime, user)) {
    throw invalidGrant("the code's sign-in predates the user's password change");
  }
  const familyId = crypto.randomUUID();
  // Recorded before the tokens exist, so a replay racing this exchange still finds what to revoke.
  await server.codes.redeemedInto(grant.codeId, familyId);
  const pair = await server.tokens.start(
    {
      userId: grant.userId,
      tenantId,
      role: user.role,
      platformSuperadmin: false,
      oauth: {
        clientId: client.clientId,
        scope: grant.scope,
        issuer: request.issuer,
        grantType: 'authorization_code',
        dpopJkt: proof?.jkt,
        authTime: grant.authTime,
        sessionId: grant.sessionId ?? undefined,
      },
    },
    requestRef(request),
    familyId,
  );
  // A replay that came while this exchange ran found no family to revoke yet: it left its mark, and
  // this exchange revokes its own family. A replay after this line finds the family and revokes it.
  if (!(await server.replay.firstUse(replayMark(grant.codeId), markExpiry(now)))) {
    await server.tokens.revoke(familyId, 'code_reused', requestId);
    throw invalidGrant(REFUSED.reused);
  }
  await server.record(
    authorizationStreamId(grant.codeId),
    'OAuthAuthorizationCodeRedeemed',
    { codeId: grant.codeId, clientId: client.clientId, familyId, at: now.toISOString() },
    grantMetadata(request, grant.userId),
  );
  const idToken = await idTokenFor(server, request, {
    userId: grant.userId,
    scope: grant.scope,
    authTime: grant.authTime,
    nonce: grant.nonce,
    sessionId: grant.sessionId,
    accessToken: pair.access_token,
  });
  return userTokenResponse(server, client, pair, idToken);
};
