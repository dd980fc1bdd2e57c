import { invalidGrant, OAuthError } from '../errors.ts';
import { param, required } from '../params.ts';
import { resolveScope } from '../scopes.ts';
import { type Grant, idTokenFor, proofFor, requestRef, userTokenResponse } from './grant.ts';

/** The password grant (RFC 6749 §4.3): legacy, refused unless an admin allowed it for this client. */
export const passwordGrant: Grant = async (request, server) => {
  const { form, client, tenantId, now } = request;
  const username = required(form, 'username', 254).trim().toLowerCase();
  const password = required(form, 'password', 1024);
  const scope = resolveScope(param(form, 'scope'), client, { user: true, defaultToClient: true });
  const key = { tenantId, email: username, address: request.clientAddress };
  if (server.throttle) {
    const decision = await server.throttle.checkLogin(key);
    if (!decision.allowed) {
      throw new OAuthError(
        'temporarily_unavailable',
        'too many sign-in attempts; wait and retry',
        429,
        undefined,
        decision.retryAfterSeconds,
      );
    }
  }
  const checked = await server.users.verifyCredentials(tenantId, username, password);
  if (!checked.ok) {
    if (
      checked.reason === 'not_active' ||
      checked.reason === 'password_change_required' ||
      checked.reason === 'email_unverified'
    ) {
      await server.throttle?.recordRefused(key, checked.reason);
      // Told only to a caller who knew the password, as the account waiting for approval is.
      if (checked.reason === 'password_change_required') {
        throw invalidGrant('the password must be changed first (POST /v1/auth/login with new_password)');
      }
      if (checked.reason === 'email_unverified') {
        throw invalidGrant('the email is not verified yet: open the link mailed at registration');
      }
    } else await server.throttle?.recordFailure(key);
    throw invalidGrant('wrong username or password');
  }
  await server.throttle?.recordSuccess(key);
  const proof = await proofFor(request);
  const pair = await server.tokens.start(
    {
      userId: checked.user.id,
      tenantId,
      role: checked.user.role,
      platformSuperadmin: false,
      oauth: {
        clientId: client.clientId,
        scope,
        issuer: request.issuer,
        grantType: 'password',
        dpopJkt: proof?.jkt,
        authTime: now,
      },
    },
    requestRef(request),
  );
  const idToken = await idTokenFor(server, request, {
    userId: checked.user.id,
    scope,
    authTime: now,
    nonce: null,
    sessionId: null,
    accessToken: pair.access_token,
  });
  return userTokenResponse(server, client, pair, idToken);
};
