import type { OpenAPIHono } from '@hono/zod-openapi';
import type { Context } from 'hono';
import type { ClientState } from '../../commands/oauth/index.ts';
import type { TokenPair } from '../../identity/tokens/index.ts';
import { authenticateClient } from '../../oauth/clients.ts';
import { invalidGrant, OAuthError, unauthorizedClient } from '../../oauth/errors.ts';
import { accessTokenStreamId, authorizationStreamId } from '../../oauth/events.ts';
import type { OAuthServer } from '../../oauth/server.ts';
import {
  issueIdToken,
  issueOAuthAccessToken,
  looksLikeOAuthAccessToken,
  type VerifiedOAuthAccessToken,
  verifyOAuthAccessToken,
} from '../../oauth/tokens.ts';
import type { AppEnv } from '../kit/env.ts';
import { oauthDoc } from './docs.ts';
import {
  dpopOf,
  formParams,
  issuerTenantOf,
  noStore,
  oauthHandler,
  param,
  required,
  resolveScope,
} from './support.ts';

export interface OAuthTokenRouteDeps {
  server: OAuthServer;
  /** The client address for the per-address token limit. */
  clientAddress: (c: Context<AppEnv>) => string | undefined;
}

const GRANTS = ['authorization_code', 'refresh_token', 'client_credentials', 'password'] as const;
/** The form fields of client authentication, documented on every endpoint that authenticates clients. */
export const CLIENT_AUTH_FIELDS = ['client_id', 'client_secret', 'client_assertion_type', 'client_assertion'];

/** The claims of the `profile` and `email` scopes (OIDC Core §5.4) for a user as they are now. */
export function userClaims(
  scopes: readonly string[],
  user: { email: string; name: string; updatedAt: string },
): Record<string, unknown> {
  return {
    ...(scopes.includes('email') ? { email: user.email, email_verified: false } : {}),
    ...(scopes.includes('profile')
      ? { name: user.name, updated_at: Math.floor(new Date(user.updatedAt).getTime() / 1000) }
      : {}),
  };
}

/**
 * The token endpoint (authorization code with PKCE, refresh with rotation, client credentials, the
 * opt-in password grant), revocation (RFC 7009), introspection (RFC 7662) and userinfo (OIDC Core
 * §5.3). Every answer is in the protocol's own format; every issued token is recorded for the audit.
 */
export function oauthTokenRoutes(app: OpenAPIHono<AppEnv>, deps: OAuthTokenRouteDeps) {
  const { server } = deps;
  const { config } = server;
  const accessConfig = {
    audience: config.WARDEN_TOKEN_AUDIENCE,
    ttlSeconds: config.WARDEN_OAUTH_ACCESS_TOKEN_TTL_SECONDS,
  };

  async function client(c: Context<AppEnv>, form: URLSearchParams, endpoint: string) {
    const tenant = issuerTenantOf(c);
    const issuer = server.issuerFor(tenant, c.req.url);
    return authenticateClient(
      { authorization: c.req.header('authorization'), form, audiences: [issuer, `${issuer}${endpoint}`] },
      { registry: server.clients, tenantId: tenant.id, issuer, replay: server.replay, now: server.clock() },
    );
  }

  /** The client id a request claims before it is authenticated (for the per-client limit). */
  function claimedClientId(c: Context<AppEnv>, form: URLSearchParams): string | undefined {
    const basic = /^Basic +([A-Za-z0-9+/=]+)$/i.exec(c.req.header('authorization')?.trim() ?? '');
    if (basic?.[1]) {
      try {
        return decodeURIComponent(atob(basic[1]).split(':')[0] ?? '');
      } catch {
        return undefined;
      }
    }
    return form.get('client_id') ?? undefined;
  }

  const metadata = (c: Context<AppEnv>, tenantId: string, actorId: string) => ({
    tenantId,
    actorId,
    requestId: c.get('requestId'),
    correlationId: c.get('requestId'),
  });

  async function idTokenFor(
    c: Context<AppEnv>,
    input: {
      client: ClientState;
      userId: string;
      scope: string[];
      authTime: Date;
      nonce: string | null;
      sessionId: string | null;
      accessToken: string;
    },
  ) {
    if (!input.scope.includes('openid')) return undefined;
    const tenant = issuerTenantOf(c);
    const user = await server.users.current(tenant.id, input.userId);
    if (!user) throw invalidGrant('the user is no longer active');
    return issueIdToken(
      server.keys,
      {
        tenantId: tenant.id,
        issuer: server.issuerFor(tenant, c.req.url),
        clientId: input.client.clientId,
        alg: input.client.idTokenSignedResponseAlg,
        subject: input.userId,
        authTime: input.authTime,
        nonce: input.nonce ?? undefined,
        sessionId: input.sessionId ?? undefined,
        accessToken: input.accessToken,
        claims: userClaims(input.scope, user),
        ttlSeconds: config.WARDEN_OAUTH_ID_TOKEN_TTL_SECONDS,
      },
      server.clock(),
    );
  }

  /** A grant's answer: the refresh token only to a client allowed the refresh grant, the ID token when there is one. */
  function tokenResponse(oauthClient: ClientState, pair: TokenPair, idToken: string | undefined) {
    const { refresh_token, ...rest } = pair;
    return {
      ...rest,
      ...(server.allows(oauthClient, 'refresh_token') ? { refresh_token } : {}),
      ...(idToken ? { id_token: idToken } : {}),
    };
  }

  /** A DPoP proof when sent; required when the client must bind its tokens. */
  async function proofFor(c: Context<AppEnv>, oauthClient: ClientState) {
    const proof = await dpopOf(c, server);
    if (!proof && oauthClient.requireDpop) {
      throw new OAuthError('invalid_dpop_proof', 'this client must send a DPoP proof (RFC 9449)');
    }
    return proof;
  }

  oauthDoc(app, {
    method: 'post',
    path: '/oauth/token',
    summary:
      'Token endpoint: authorization_code (PKCE S256), refresh_token, client_credentials, password (opt-in)',
    fields: [
      'grant_type',
      'code',
      'redirect_uri',
      'code_verifier',
      'refresh_token',
      'scope',
      'username',
      'password',
      ...CLIENT_AUTH_FIELDS,
    ],
    responses: {
      200: 'Tokens: access_token, token_type (Bearer or DPoP), expires_in, scope, refresh_token, id_token',
      400: 'RFC 6749 §5.2 error',
      401: 'invalid_client',
      429: 'Too many token requests for this client or address',
    },
  });
  app.post(
    '/oauth/token',
    oauthHandler(async (c) => {
      const tenant = issuerTenantOf(c);
      const form = formParams(c);
      noStore(c);
      if (!(await server.admitToken(tenant.id, claimedClientId(c, form), deps.clientAddress(c)))) {
        c.header('Retry-After', '60');
        throw new OAuthError('temporarily_unavailable', 'too many token requests; retry later', 429);
      }
      const oauthClient = await client(c, form, '/oauth/token');
      const grantType = required(form, 'grant_type', 100);
      if (!(GRANTS as readonly string[]).includes(grantType)) {
        throw new OAuthError('unsupported_grant_type', `grant_type ${grantType} is not supported`);
      }
      if (!server.allows(oauthClient, grantType as (typeof GRANTS)[number])) {
        throw unauthorizedClient(`this client may not use the ${grantType} grant`);
      }
      const now = server.clock();
      const issuer = server.issuerFor(tenant, c.req.url);
      const requestId = c.get('requestId');

      if (grantType === 'client_credentials') {
        const scope = resolveScope(param(form, 'scope'), oauthClient, { user: false, defaultToClient: true });
        const proof = await proofFor(c, oauthClient);
        const access = await issueOAuthAccessToken(
          server.keys,
          accessConfig,
          {
            tenantId: tenant.id,
            issuer,
            subject: oauthClient.clientId,
            clientId: oauthClient.clientId,
            scope,
            jkt: proof?.jkt,
          },
          now,
        );
        await server.record(
          accessTokenStreamId(access.tokenId),
          'OAuthAccessTokenIssued',
          {
            tenantId: tenant.id,
            clientId: oauthClient.clientId,
            tokenId: access.tokenId,
            grantType: 'client_credentials',
            scope,
            expiresAt: access.expiresAt.toISOString(),
            at: now.toISOString(),
          },
          metadata(c, tenant.id, oauthClient.clientId),
        );
        return c.json({
          access_token: access.token,
          token_type: proof ? 'DPoP' : 'Bearer',
          expires_in: accessConfig.ttlSeconds,
          scope: scope.join(' '),
        });
      }

      if (grantType === 'authorization_code') {
        const code = required(form, 'code', 200);
        // Every code has a PKCE challenge, so a missing verifier fails it like a wrong one: invalid_grant,
        // and the code is used up by the attempt (RFC 7636 §4.6, RFC 9700 §2.1.1).
        const verifier = param(form, 'code_verifier', 200) ?? '';
        const proof = await proofFor(c, oauthClient);
        const redeemed = await server.codes.redeem(code, tenant.id, {
          clientId: oauthClient.clientId,
          redirectUri: param(form, 'redirect_uri'),
          verifier,
        });
        if (!redeemed.ok) {
          if (redeemed.reason === 'reused') {
            // RFC 6749 §4.1.2 and RFC 9700 §4.5.3.1: a replayed code revokes what it issued.
            if (redeemed.familyId) await server.tokens.revoke(redeemed.familyId, 'code_reused', requestId);
            await server.record(
              authorizationStreamId(redeemed.grant.codeId),
              'OAuthAuthorizationCodeReplayed',
              {
                codeId: redeemed.grant.codeId,
                clientId: oauthClient.clientId,
                familyId: redeemed.familyId,
                at: now.toISOString(),
              },
              metadata(c, tenant.id, oauthClient.clientId),
            );
          }
          const why: Record<typeof redeemed.reason, string> = {
            unknown: 'the authorization code is not valid',
            expired: 'the authorization code has expired',
            wrong_client: 'the authorization code was issued to another client',
            wrong_redirect: 'redirect_uri differs from the authorization request',
            pkce: 'code_verifier is missing or does not match the code_challenge',
            reused: 'the authorization code was used already; the tokens issued from it are revoked',
          };
          throw invalidGrant(why[redeemed.reason]);
        }
        const { grant } = redeemed;
        if (grant.dpopJkt && grant.dpopJkt !== proof?.jkt) {
          throw invalidGrant('the code is bound to another DPoP key (dpop_jkt)');
        }
        const user = await server.users.current(tenant.id, grant.userId);
        if (!user) throw invalidGrant('the user is no longer active');
        const familyId = crypto.randomUUID();
        // Recorded before the tokens exist, so a replay racing this exchange still finds what to revoke.
        await server.codes.redeemedInto(grant.codeId, familyId);
        const pair = await server.tokens.start(
          {
            userId: grant.userId,
            tenantId: tenant.id,
            role: user.role,
            platformSuperadmin: false,
            oauth: {
              clientId: oauthClient.clientId,
              scope: grant.scope,
              issuer,
              grantType: 'authorization_code',
              dpopJkt: proof?.jkt,
              authTime: grant.authTime,
              sessionId: grant.sessionId ?? undefined,
            },
          },
          requestId,
          familyId,
        );
        await server.record(
          authorizationStreamId(grant.codeId),
          'OAuthAuthorizationCodeRedeemed',
          { codeId: grant.codeId, clientId: oauthClient.clientId, familyId, at: now.toISOString() },
          metadata(c, tenant.id, grant.userId),
        );
        const idToken = await idTokenFor(c, {
          client: oauthClient,
          userId: grant.userId,
          scope: grant.scope,
          authTime: grant.authTime,
          nonce: grant.nonce,
          sessionId: grant.sessionId,
          accessToken: pair.access_token,
        });
        return c.json(tokenResponse(oauthClient, pair, idToken));
      }

      if (grantType === 'refresh_token') {
        const refreshToken = required(form, 'refresh_token', 200);
        const requested = param(form, 'scope');
        const scope = requested === undefined ? undefined : requested.split(' ').filter(Boolean);
        const proof = await dpopOf(c, server);
        const result = await server.tokens.refresh(refreshToken, tenant.id, requestId, {
          clientId: oauthClient.clientId,
          dpopJkt: proof?.jkt,
          scope,
        });
        if (!result.ok) {
          if (result.reason === 'invalid_scope') {
            throw new OAuthError('invalid_scope', 'a refresh may narrow the granted scope, never widen it');
          }
          const why: Record<typeof result.reason, string> = {
            invalid: 'the refresh token is not valid for this client',
            expired: 'the refresh token has expired',
            revoked: 'the refresh token was revoked',
            reused: 'the refresh token was used already: the whole grant is revoked',
            user_gone: 'the user is no longer active',
            dpop_mismatch: 'the refresh token is bound to another DPoP key',
          };
          throw invalidGrant(why[result.reason]);
        }
        return c.json(result.pair);
      }

      // The password grant (RFC 6749 §4.3): legacy, refused unless an admin allowed it for this client.
      const username = required(form, 'username', 254).trim().toLowerCase();
      const password = required(form, 'password', 1024);
      const scope = resolveScope(param(form, 'scope'), oauthClient, { user: true, defaultToClient: true });
      const key = { tenantId: tenant.id, email: username, address: deps.clientAddress(c) };
      if (server.throttle) {
        const decision = await server.throttle.checkLogin(key);
        if (!decision.allowed) {
          c.header('Retry-After', String(decision.retryAfterSeconds));
          throw new OAuthError('temporarily_unavailable', 'too many sign-in attempts; wait and retry', 429);
        }
      }
      const checked = await server.users.verifyCredentials(tenant.id, username, password);
      if (!checked.ok) {
        if (checked.reason !== 'not_active') await server.throttle?.recordFailure(key);
        throw invalidGrant('wrong username or password');
      }
      await server.throttle?.recordSuccess(key);
      const proof = await proofFor(c, oauthClient);
      const pair = await server.tokens.start(
        {
          userId: checked.user.id,
          tenantId: tenant.id,
          role: checked.user.role,
          platformSuperadmin: false,
          oauth: {
            clientId: oauthClient.clientId,
            scope,
            issuer,
            grantType: 'password',
            dpopJkt: proof?.jkt,
            authTime: now,
          },
        },
        requestId,
      );
      const idToken = await idTokenFor(c, {
        client: oauthClient,
        userId: checked.user.id,
        scope,
        authTime: now,
        nonce: null,
        sessionId: null,
        accessToken: pair.access_token,
      });
      return c.json(tokenResponse(oauthClient, pair, idToken));
    }),
  );

  /** An access token of this tenant that is still good: verified, not expired, not revoked. */
  async function liveAccessToken(
    tenantId: string,
    token: string,
  ): Promise<VerifiedOAuthAccessToken | undefined> {
    if (!looksLikeOAuthAccessToken(token, config.WARDEN_TOKEN_ISSUER)) return undefined;
    const verified = await verifyOAuthAccessToken(server.keys, tenantId, token, accessConfig, server.clock());
    if (!verified) return undefined;
    if (await server.tokens.isRevoked(verified.tokenId, verified.familyId)) return undefined;
    if (!(await server.clients.get(tenantId, verified.clientId))) return undefined;
    return verified;
  }

  oauthDoc(app, {
    method: 'post',
    path: '/oauth/introspect',
    summary: 'Token introspection (RFC 7662), for authenticated confidential clients',
    fields: ['token', 'token_type_hint', ...CLIENT_AUTH_FIELDS],
    responses: {
      200: '{active, scope, client_id, sub, exp, iat, iss, aud, jti, token_type, cnf}',
      401: 'invalid_client',
    },
  });
  app.post(
    '/oauth/introspect',
    oauthHandler(async (c) => {
      const tenant = issuerTenantOf(c);
      const form = formParams(c);
      noStore(c);
      const caller = await client(c, form, '/oauth/introspect');
      if (caller.type === 'public') {
        throw new OAuthError('invalid_client', 'introspection is for authenticated clients only', 401);
      }
      const token = required(form, 'token', 8192);
      const hint = param(form, 'token_type_hint');
      const access = hint === 'refresh_token' ? undefined : await liveAccessToken(tenant.id, token);
      if (access) {
        return c.json({
          active: true,
          scope: access.scope.join(' '),
          client_id: access.clientId,
          sub: access.subject,
          exp: Math.floor(access.expiresAt.getTime() / 1000),
          iat: Math.floor(access.issuedAt.getTime() / 1000),
          iss: access.issuer,
          aud: access.audience,
          jti: access.tokenId,
          token_type: access.jkt ? 'DPoP' : 'Bearer',
          ...(access.jkt ? { cnf: { jkt: access.jkt } } : {}),
        });
      }
      const refresh = await server.tokens.inspect(token);
      if (refresh?.active && refresh.tenantId === tenant.id && refresh.clientId) {
        return c.json({
          active: true,
          scope: refresh.scope.join(' '),
          client_id: refresh.clientId,
          sub: refresh.userId,
          exp: Math.floor(refresh.expiresAt.getTime() / 1000),
          iat: Math.floor(refresh.issuedAt.getTime() / 1000),
          ...(refresh.issuer ? { iss: refresh.issuer } : {}),
          token_type: 'refresh_token',
        });
      }
      return c.json({ active: false });
    }),
  );

  oauthDoc(app, {
    method: 'post',
    path: '/oauth/revoke',
    summary:
      'Token revocation (RFC 7009): a refresh token ends its whole grant; an access token is refused until it expires',
    fields: ['token', 'token_type_hint', ...CLIENT_AUTH_FIELDS],
    responses: { 200: 'Revoked (or unknown: the same answer)', 401: 'invalid_client' },
  });
  app.post(
    '/oauth/revoke',
    oauthHandler(async (c) => {
      const tenant = issuerTenantOf(c);
      const form = formParams(c);
      noStore(c);
      const caller = await client(c, form, '/oauth/revoke');
      const token = required(form, 'token', 8192);
      const requestId = c.get('requestId');
      const refresh = await server.tokens.inspect(token);
      // Only the client a token was issued to may revoke it; anything else is answered alike (§2.2).
      if (refresh && refresh.tenantId === tenant.id && refresh.clientId === caller.clientId) {
        await server.tokens.revoke(refresh.familyId, 'revoked_by_client', requestId);
        return c.body(null, 200);
      }
      const access = await liveAccessToken(tenant.id, token);
      if (access && access.clientId === caller.clientId) {
        await server.tokens.revokeAccessToken(access.tokenId, access.expiresAt);
        await server.record(
          accessTokenStreamId(access.tokenId),
          'OAuthAccessTokenRevoked',
          {
            tenantId: tenant.id,
            clientId: caller.clientId,
            tokenId: access.tokenId,
            at: server.clock().toISOString(),
          },
          metadata(c, tenant.id, caller.clientId),
        );
      }
      return c.body(null, 200);
    }),
  );

  const userinfo = oauthHandler(async (c) => {
    const tenant = issuerTenantOf(c);
    noStore(c);
    const header = c.req.header('authorization')?.trim() ?? '';
    const match = /^(Bearer|DPoP) +([A-Za-z0-9\-._~+/]+=*)$/i.exec(header);
    const challenge = (error: string) =>
      `${match?.[1]?.toLowerCase() === 'dpop' ? 'DPoP' : 'Bearer'} error="${error}"`;
    if (!match?.[2]) throw new OAuthError('invalid_token', 'send an access token', 401, 'Bearer');
    const token = match[2];
    const access = await liveAccessToken(tenant.id, token);
    if (!access)
      throw new OAuthError('invalid_token', 'the access token is not valid', 401, challenge('invalid_token'));
    if (access.jkt) {
      if (match[1]?.toLowerCase() !== 'dpop') {
        throw new OAuthError(
          'invalid_token',
          'this token is DPoP-bound: use the DPoP scheme',
          401,
          challenge('invalid_token'),
        );
      }
      const proof = await dpopOf(c, server, token);
      if (proof?.jkt !== access.jkt) {
        throw new OAuthError(
          'invalid_token',
          'the DPoP proof is not of the bound key',
          401,
          challenge('invalid_token'),
        );
      }
    }
    if (!access.scope.includes('openid') || access.subject === access.clientId) {
      throw new OAuthError(
        'insufficient_scope',
        'userinfo needs a user token with the openid scope',
        403,
        challenge('insufficient_scope'),
      );
    }
    const user = await server.users.current(tenant.id, access.subject);
    if (!user)
      throw new OAuthError('invalid_token', 'the user is no longer active', 401, challenge('invalid_token'));
    return c.json({ sub: access.subject, ...userClaims(access.scope, user) });
  });
  for (const method of ['get', 'post'] as const) {
    oauthDoc(app, {
      method,
      path: '/oauth/userinfo',
      summary: 'UserInfo (OIDC Core §5.3): the claims of the token’s scopes',
      fields: [],
      bearer: true,
      responses: {
        200: '{sub, email, email_verified, name, updated_at}',
        401: 'invalid_token',
        403: 'insufficient_scope',
      },
    });
  }
  app.get('/oauth/userinfo', userinfo);
  app.post('/oauth/userinfo', userinfo);
}
