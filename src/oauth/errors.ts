/** RFC 6749 §4.1.2.1 / §5.2, RFC 6750 §3.1, RFC 9449 §7.1, RFC 9126 and OIDC Core §3.1.2.6 error codes. */
export type OAuthErrorCode =
  | 'invalid_request'
  | 'invalid_client'
  | 'invalid_grant'
  | 'unauthorized_client'
  | 'unsupported_grant_type'
  | 'unsupported_response_type'
  | 'invalid_scope'
  | 'access_denied'
  | 'server_error'
  | 'temporarily_unavailable'
  | 'login_required'
  | 'consent_required'
  | 'interaction_required'
  | 'invalid_request_uri'
  | 'invalid_request_object'
  | 'request_not_supported'
  | 'request_uri_not_supported'
  | 'invalid_token'
  | 'insufficient_scope'
  | 'invalid_dpop_proof'
  | 'unsupported_token_type';

/**
 * An OAuth protocol error: answered as `{error, error_description}` JSON at the token-style endpoints,
 * as a redirect to a verified redirect URI at the authorization endpoint, or as a page when no
 * redirect URI can be trusted.
 */
export class OAuthError extends Error {
  readonly code = 'OAUTH_ERROR' as const;
  constructor(
    readonly error: OAuthErrorCode,
    readonly description: string,
    readonly status = 400,
    /** `WWW-Authenticate` for 401s (client authentication with Basic, or a bearer/DPoP token). */
    readonly challenge?: string,
    /** `Retry-After` for 429s (a limit or the login throttle refused the request). */
    readonly retryAfterSeconds?: number,
  ) {
    super(`${error}: ${description}`);
    this.name = 'OAuthError';
  }
}

export const invalidRequest = (description: string) => new OAuthError('invalid_request', description);
export const invalidGrant = (description: string) => new OAuthError('invalid_grant', description);
export const invalidScope = (description: string) => new OAuthError('invalid_scope', description);
export const unauthorizedClient = (description: string) => new OAuthError('unauthorized_client', description);
