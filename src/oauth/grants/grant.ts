import type { ClientState } from '../../commands/oauth/index.ts';
import type { EventMetadata } from '../../eventstore/port.ts';
import type { TokenPair } from '../../identity/tokens/index.ts';
import { userClaims } from '../claims.ts';
import { invalidGrant, OAuthError } from '../errors.ts';
import type { OAuthServer } from '../server.ts';
import { issueIdToken } from '../tokens.ts';

/** A token request as every grant sees it: the form, the client it authenticated as, and where it acts. */
export interface GrantRequest {
  form: URLSearchParams;
  client: ClientState;
  tenantId: string;
  /** The tenant's issuer for this request. */
  issuer: string;
  requestId: string;
  /** The request's User-Agent, bounded (audit metadata). */
  userAgent?: string | undefined;
  now: Date;
  /** The request's DPoP proof (RFC 9449), verified; undefined when none was sent. */
  dpop(): Promise<{ jkt: string } | undefined>;
  /** The caller's address (for the login throttle of the password grant). */
  clientAddress: string | undefined;
}

/** The token response (RFC 6749 §5.1), or an `OAuthError` thrown. */
export type TokenResponse = Record<string, unknown>;

/** One grant type of the token endpoint. */
export type Grant = (request: GrantRequest, server: OAuthServer) => Promise<TokenResponse>;

/** Audit metadata of what a grant records. */
export function grantMetadata(request: GrantRequest, actorId: string): EventMetadata {
  return {
    tenantId: request.tenantId,
    actorId,
    requestId: request.requestId,
    correlationId: request.requestId,
    ...(request.clientAddress ? { clientAddress: request.clientAddress } : {}),
    ...(request.userAgent ? { userAgent: request.userAgent } : {}),
  };
}

/** The request as the token sessions record it: its id, the client's address and User-Agent. */
export function requestRef(request: GrantRequest) {
  return {
    requestId: request.requestId,
    ...(request.clientAddress ? { clientAddress: request.clientAddress } : {}),
    ...(request.userAgent ? { userAgent: request.userAgent } : {}),
  };
}

/** A DPoP proof when sent; required when the client must bind its tokens. */
export async function proofFor(request: GrantRequest) {
  const proof = await request.dpop();
  if (!proof && request.client.requireDpop) {
    throw new OAuthError('invalid_dpop_proof', 'this client must send a DPoP proof (RFC 9449)');
  }
  return proof;
}

/** The ID token of a user grant with the `openid` scope (undefined without it). */
export async function idTokenFor(
  server: OAuthServer,
  request: GrantRequest,
  input: {
    userId: string;
    scope: string[];
    authTime: Date;
    nonce: string | null;
    sessionId: string | null;
    accessToken: string;
  },
) {
  if (!input.scope.includes('openid')) return undefined;
  const user = await server.users.current(request.tenantId, input.userId);
  if (!user) throw invalidGrant('the user is no longer active');
  return issueIdToken(
    server.keys,
    {
      tenantId: request.tenantId,
      issuer: request.issuer,
      clientId: request.client.clientId,
      alg: request.client.idTokenSignedResponseAlg,
      subject: input.userId,
      authTime: input.authTime,
      nonce: input.nonce ?? undefined,
      sessionId: input.sessionId ?? undefined,
      accessToken: input.accessToken,
      claims: userClaims(input.scope, user),
      ttlSeconds: server.config.WARDEN_OAUTH_ID_TOKEN_TTL_SECONDS,
    },
    server.clock(),
  );
}

/** A user grant's answer: the refresh token only to a client allowed the refresh grant, the ID token when there is one. */
export function userTokenResponse(
  server: OAuthServer,
  client: ClientState,
  pair: TokenPair,
  idToken: string | undefined,
): TokenResponse {
  const { refresh_token, ...rest } = pair;
  return {
    ...rest,
    ...(server.allows(client, 'refresh_token') ? { refresh_token } : {}),
    ...(idToken ? { id_token: idToken } : {}),
  };
}

/** How OAuth access tokens are minted: audience and lifetime. */
export function accessTokenConfig(server: Pick<OAuthServer, 'config'>) {
  return {
    audience: server.config.WARDEN_TOKEN_AUDIENCE,
    ttlSeconds: server.config.WARDEN_OAUTH_ACCESS_TOKEN_TTL_SECONDS,
  };
}
