import type { Context } from 'hono';
import {
  type ClientState,
  oidcScopes,
  permissionScopes,
  supportedScopes,
} from '../../commands/oauth/index.ts';
import type { ResolvedTenant } from '../../identity/principal.ts';
import { verifyDpopProof } from '../../oauth/dpop.ts';
import { invalidRequest, invalidScope, OAuthError } from '../../oauth/errors.ts';
import type { OAuthServer } from '../../oauth/server.ts';
import type { AppEnv } from '../kit/env.ts';
import { tenantOf } from '../kit/scope.ts';

/** Tokens and protocol answers must not sit in shared caches (RFC 6749 §5.1). */
export function noStore(c: Context<AppEnv>) {
  c.header('Cache-Control', 'no-store');
  c.header('Pragma', 'no-cache');
}

/** RFC 6749 §5.2 error response: JSON `{error, error_description}`, with a challenge on 401s. */
export function oauthErrorResponse(c: Context<AppEnv>, error: OAuthError): Response {
  noStore(c);
  if (error.challenge) c.header('WWW-Authenticate', error.challenge);
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

export function refuseRepeated(params: URLSearchParams) {
  const seen = new Set<string>();
  for (const key of params.keys()) {
    if (seen.has(key)) throw invalidRequest(`the parameter ${key} is repeated`);
    seen.add(key);
  }
}

/** One parameter, trimmed of nothing; absent or empty is undefined (RFC 6749 §3.1: empty = omitted). */
export function param(params: URLSearchParams, name: string, max = 2048): string | undefined {
  const value = params.get(name);
  if (value === null || value === '') return undefined;
  if (value.length > max) throw invalidRequest(`${name} is too long`);
  return value;
}

export function required(params: URLSearchParams, name: string, max?: number): string {
  const value = param(params, name, max);
  if (value === undefined) throw invalidRequest(`${name} is required`);
  return value;
}

/**
 * The scopes a request may have: each one known and allowed to the client; OpenID scopes only where
 * a user is involved. Absent: the client's scopes (client credentials) or an error.
 */
export function resolveScope(
  requested: string | undefined,
  client: ClientState,
  options: { user: boolean; defaultToClient: boolean },
): string[] {
  if (requested === undefined) {
    if (!options.defaultToClient) throw invalidRequest('scope is required');
    return client.scopes.filter((s) => options.user || !(oidcScopes as readonly string[]).includes(s));
  }
  const scopes = [...new Set(requested.split(' ').filter(Boolean))];
  if (scopes.length === 0) throw invalidScope('scope is empty');
  for (const scope of scopes) {
    if (!supportedScopes.includes(scope)) throw invalidScope(`unknown scope ${scope}`);
    if (!client.scopes.includes(scope)) throw invalidScope(`the client may not ask for ${scope}`);
    if (!options.user && (oidcScopes as readonly string[]).includes(scope)) {
      throw invalidScope(`${scope} needs a user; client credentials act for the client itself`);
    }
  }
  return scopes;
}

/** Warden permissions a scope list grants (OpenID scopes grant none). */
export const scopePermissions = (scopes: readonly string[]) =>
  scopes.filter((s) => (permissionScopes as readonly string[]).includes(s));

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
