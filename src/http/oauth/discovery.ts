import { OpenAPIHono } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { supportedScopes } from '../../commands/oauth/index.ts';
import type { OAuthServer } from '../../oauth/index.ts';
import { DPOP_ALGORITHMS } from '../../oauth/index.ts';
import type { AppEnv } from '../kit/index.ts';
import { oauthDoc } from './docs.ts';
import { issuerTenantOf, oauthHandler } from './support.ts';

/** The tenant's authorization-server metadata (RFC 8414) and OpenID Provider metadata (OIDC Discovery 1.0). */
export function issuerMetadata(issuer: string) {
  const at = (path: string) => `${issuer}${path}`;
  return {
    issuer,
    authorization_endpoint: at('/oauth/authorize'),
    token_endpoint: at('/oauth/token'),
    userinfo_endpoint: at('/oauth/userinfo'),
    jwks_uri: at('/oauth/jwks'),
    revocation_endpoint: at('/oauth/revoke'),
    introspection_endpoint: at('/oauth/introspect'),
    pushed_authorization_request_endpoint: at('/oauth/par'),
    end_session_endpoint: at('/oauth/end-session'),
    scopes_supported: supportedScopes,
    response_types_supported: ['code'],
    response_modes_supported: ['query', 'form_post'],
    grant_types_supported: ['authorization_code', 'refresh_token', 'client_credentials', 'password'],
    subject_types_supported: ['public'],
    id_token_signing_alg_values_supported: ['RS256', 'ES256', 'EdDSA'],
    token_endpoint_auth_methods_supported: [
      'client_secret_basic',
      'client_secret_post',
      'private_key_jwt',
      'none',
    ],
    token_endpoint_auth_signing_alg_values_supported: ['RS256', 'PS256', 'ES256', 'EdDSA'],
    revocation_endpoint_auth_methods_supported: [
      'client_secret_basic',
      'client_secret_post',
      'private_key_jwt',
      'none',
    ],
    introspection_endpoint_auth_methods_supported: [
      'client_secret_basic',
      'client_secret_post',
      'private_key_jwt',
    ],
    code_challenge_methods_supported: ['S256'],
    authorization_response_iss_parameter_supported: true,
    dpop_signing_alg_values_supported: [...DPOP_ALGORITHMS],
    require_pushed_authorization_requests: false,
    request_parameter_supported: false,
    request_uri_parameter_supported: false,
    claims_parameter_supported: false,
    prompt_values_supported: ['none', 'login', 'consent', 'select_account'],
    claims_supported: [
      'sub',
      'iss',
      'aud',
      'exp',
      'iat',
      'auth_time',
      'nonce',
      'azp',
      'sid',
      'email',
      'email_verified',
      'name',
      'updated_at',
    ],
    service_documentation: at('/docs'),
  };
}

/** Discovery documents and the tenant's JWKS, each per tenant (each tenant is its own issuer). */
export function oauthDiscoveryRoutes(server: OAuthServer) {
  const app = new OpenAPIHono<AppEnv>();
  const metadata = oauthHandler(async (c: Context<AppEnv>) => {
    const issuer = server.issuerFor(issuerTenantOf(c), c.req.url);
    c.header('Cache-Control', 'public, max-age=300');
    return c.json(issuerMetadata(issuer));
  });
  for (const path of ['/.well-known/openid-configuration', '/.well-known/oauth-authorization-server']) {
    oauthDoc(app, {
      method: 'get',
      path,
      summary: 'The tenant issuer’s metadata (also at /.well-known/<name>/t/<slug>, RFC 8414 §3)',
      fields: [],
      responses: { 200: 'Issuer metadata', 404: 'No such tenant' },
    });
    app.get(path, metadata);
  }
  oauthDoc(app, {
    method: 'get',
    path: '/oauth/jwks',
    summary: 'The tenant issuer’s public keys (ID tokens and access tokens)',
    fields: [],
    responses: { 200: 'JSON Web Key Set' },
  });
  app.get(
    '/oauth/jwks',
    oauthHandler(async (c) => {
      const tenant = issuerTenantOf(c);
      c.header('Cache-Control', 'public, max-age=300');
      return c.json(await server.keys.jwks(tenant.id));
    }),
  );
  return app;
}
