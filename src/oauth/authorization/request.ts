import type { ClientState } from '../../commands/oauth/index.ts';
import { invalidRequest, OAuthError } from '../errors.ts';
import { param, refuseRepeated } from '../params.ts';
import type { AuthorizationRequest } from '../requests.ts';
import { resolveScope } from '../scopes.ts';
import type { OAuthServer } from '../server.ts';

const CHALLENGE = /^[A-Za-z0-9_-]{43}$/;
const PROMPTS = new Set(['none', 'login', 'consent', 'select_account']);

/** Where an authorization response goes: a redirect URI verified for the client, its state and mode. */
export interface AuthorizationTarget {
  redirectUri: string;
  state: string | null;
  responseMode: 'query' | 'form_post';
}

/** An error the authorization endpoint may send back to the client (its redirect URI is verified). */
export class RedirectableError {
  constructor(
    readonly error: OAuthError,
    readonly target: AuthorizationTarget,
  ) {}
}

/** The target of a request that has been validated (its answers go back there). */
export const targetOf = (request: AuthorizationRequest): AuthorizationTarget => ({
  redirectUri: request.redirectUri,
  state: request.state,
  responseMode: request.responseMode,
});

/** Validates an authorization request's parameters for a known client; errors name what is wrong. */
export function validateAuthorizationRequest(
  params: URLSearchParams | Record<string, string>,
  client: ClientState,
  target: AuthorizationTarget,
): AuthorizationRequest {
  const p = params instanceof URLSearchParams ? params : new URLSearchParams(params);
  const fail = (error: OAuthError) => new RedirectableError(error, target);
  try {
    if (p.has('request'))
      throw new OAuthError('request_not_supported', 'request objects are not supported; use PAR');
    const responseType = param(p, 'response_type');
    if (responseType !== 'code') {
      throw new OAuthError('unsupported_response_type', 'only response_type=code is supported');
    }
    if (!client.grantTypes.includes('authorization_code')) {
      throw new OAuthError('unauthorized_client', 'this client may not use the authorization code grant');
    }
    const scope = resolveScope(param(p, 'scope'), client, { user: true, defaultToClient: false });
    const challenge = param(p, 'code_challenge');
    const method = param(p, 'code_challenge_method');
    if (!challenge) throw invalidRequest('code_challenge is required (PKCE with S256)');
    if (method !== 'S256') throw invalidRequest('code_challenge_method must be S256 (plain is refused)');
    if (!CHALLENGE.test(challenge)) throw invalidRequest('code_challenge must be 43 base64url characters');
    const prompt = (param(p, 'prompt') ?? '').split(' ').filter(Boolean);
    if (prompt.some((x) => !PROMPTS.has(x))) throw invalidRequest('unknown prompt value');
    if (prompt.includes('none') && prompt.length > 1) throw invalidRequest('prompt=none stands alone');
    const maxAgeText = param(p, 'max_age', 10);
    const maxAge = maxAgeText === undefined ? null : Number(maxAgeText);
    if (maxAge !== null && !(Number.isInteger(maxAge) && maxAge >= 0)) {
      throw invalidRequest('max_age must be a whole number of seconds');
    }
    const dpopJkt = param(p, 'dpop_jkt', 100) ?? null;
    return {
      clientId: client.clientId,
      redirectUri: target.redirectUri,
      scope,
      state: target.state,
      nonce: param(p, 'nonce', 500) ?? null,
      codeChallenge: challenge,
      responseMode: target.responseMode,
      prompt,
      maxAge,
      loginHint: param(p, 'login_hint', 254) ?? null,
      dpopJkt,
    };
  } catch (error) {
    if (error instanceof OAuthError) throw fail(error);
    throw error;
  }
}

/**
 * Reads the authorization request from its parameters (the query or a POSTed form), resolving a pushed request
 * (`request_uri`), and verifies client and redirect URI before anything can be sent back.
 */
export async function readAuthorizationRequest(
  server: Pick<OAuthServer, 'clients' | 'requests'>,
  tenantId: string,
  sent: URLSearchParams,
) {
  let params = sent;
  refuseRepeated(params);
  const clientId = param(params, 'client_id', 100);
  if (!clientId) throw new OAuthError('invalid_request', 'client_id is required');
  const client = await server.clients.get(tenantId, clientId);
  if (!client) throw new OAuthError('invalid_client', 'unknown client');
  const requestUri = param(params, 'request_uri', 200);
  if (requestUri) {
    const pushed = await server.requests.takePushed(tenantId, client.clientId, requestUri);
    if (!pushed) {
      throw new OAuthError('invalid_request_uri', 'the request_uri is unknown, used or expired');
    }
    params = new URLSearchParams(pushed);
  } else if (client.requirePar) {
    // Known client and URI are checked first, so this error can go back to the client.
    const uri = param(params, 'redirect_uri');
    if (uri && client.redirectUris.includes(uri)) {
      throw new RedirectableError(invalidRequest('this client must push its authorization requests (PAR)'), {
        redirectUri: uri,
        state: param(params, 'state', 1000) ?? null,
        responseMode: 'query',
      });
    }
    throw invalidRequest('this client must push its authorization requests (PAR)');
  }
  const redirectUri = param(params, 'redirect_uri');
  // Exact string comparison with a registered URI (RFC 9700 §2.1); none given is refused too.
  if (!redirectUri || !client.redirectUris.includes(redirectUri)) {
    throw new OAuthError('invalid_request', 'redirect_uri is missing or not registered for this client');
  }
  const modeParam = param(params, 'response_mode', 20);
  const target = {
    redirectUri,
    state: param(params, 'state', 1000) ?? null,
    responseMode: modeParam === 'form_post' ? ('form_post' as const) : ('query' as const),
  };
  if (modeParam !== undefined && modeParam !== 'query' && modeParam !== 'form_post') {
    throw new RedirectableError(invalidRequest('response_mode must be query or form_post'), target);
  }
  return { client, request: validateAuthorizationRequest(params, client, target), target };
}
