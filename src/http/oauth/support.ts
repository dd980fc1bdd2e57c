import type { Context } from 'hono';
import type { EventMetadata } from '../../eventstore/port.ts';
import type { ResolvedTenant } from '../../identity/index.ts';
import type { OAuthServer } from '../../oauth/index.ts';
import {
  authenticateClient,
  invalidRequest,
  OAuthError,
  refuseRepeated,
  verifyDpopProof,
} from '../../oauth/index.ts';
import type { AppEnv } from '../kit/index.ts';
import { requestOrigin, tenantOf } from '../kit/index.ts';

/** Tokens and protocol answers must not sit in shared caches (RFC 6749 §5.1). */
export function noStore(c: Context<AppEnv>) {
  c.header('Cache-Control', 'no-store');
  c.header('Pragma', 'no-cache');
}

/** RFC 6749 §5.2 error response: JSON `{error, error_description}`, with a challenge on 401s. */
export function oauthErrorResponse(c: Context<AppEnv>, error: OAuthError): Response {
  noStore(c);
  if (error.challenge) c.header('WWW-Authenticate', error.challenge);
  if (error.retryAfterSeconds !== undefined) c.header('Retry-After', String(error.retryAfterSeconds));
  return c.json({ error: error.error, error_description: error.description }, error.status as 400);
}

/** The tenant an OAuth endpoint acts for (its issuer); the tenant middleware has already 404ed unknown ones. */
export function issuerTenantOf(c: Context<AppEnv>): ResolvedTenant {
  return tenantOf(
    c,
    () => new OAuthError('invalid_request', 'name a tenant: each tenant is its own issuer', 404),
  );
}

/** The request's form parameters; a parameter sent twice is refused (RFC 6749 §3.1). */
export function formParams(c: Context<AppEnv>): URLSearchParams {
  const error = c.get('formError');
  if (error) throw invalidRequest(error);
  const form = c.get('form');
  if (!form) throw invalidRequest('send the parameters as application/x-www-form-urlencoded');
  refuseRepeated(form);
  return form;
}

/**
 * The request's DPoP proof (RFC 9449), verified for this method and URL (and access token, at a
 * resource), or undefined when none was sent. Two proofs are refused.
 */
export async function dpopOf(
  c: Context<AppEnv>,
  server: OAuthServer,
  accessToken?: string,
): Promise<{ jkt: string } | undefined> {
  const values = c.req.raw.headers.get('dpop');
  if (values === null) return undefined;
  if (values.includes(',')) throw new OAuthError('invalid_dpop_proof', 'send one DPoP proof');
  return verifyDpopProof(
    values.trim(),
    { method: c.req.method, url: c.req.url, accessToken },
    { now: server.clock(), replay: server.replay },
  );
}

/** Wraps an OAuth handler: protocol errors become RFC 6749 answers, anything else goes to the app's onError. */
export function oauthHandler(handler: (c: Context<AppEnv>) => Promise<Response>) {
  return async (c: Context<AppEnv>) => {
    try {
      return await handler(c);
    } catch (error) {
      if (error instanceof OAuthError) return oauthErrorResponse(c, error);
      throw error;
    }
  };
}

/** The client a token-style request authenticates as (RFC 6749 §2.3, RFC 7523 assertions for this endpoint). */
export async function authenticatedClient(
  c: Context<AppEnv>,
  server: OAuthServer,
  form: URLSearchParams,
  endpoint: string,
) {
  const tenant = issuerTenantOf(c);
  const issuer = server.issuerFor(tenant, c.req.url);
  return authenticateClient(
    { authorization: c.req.header('authorization'), form, audiences: [issuer, `${issuer}${endpoint}`] },
    { registry: server.clients, tenantId: tenant.id, issuer, replay: server.replay, now: server.clock() },
  );
}

/** The client id a request claims before it is authenticated (for the per-client limit). */
export function claimedClientId(c: Context<AppEnv>, form: URLSearchParams): string | undefined {
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

/** Audit metadata of what an OAuth endpoint records. */
export function oauthMetadata(c: Context<AppEnv>, tenantId: string, actorId: string): EventMetadata {
  return {
    tenantId,
    actorId,
    requestId: c.get('requestId'),
    correlationId: c.get('requestId'),
    ...requestOrigin(c),
  };
}
