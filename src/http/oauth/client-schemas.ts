import { z } from 'zod';
import {
  ClientJwk,
  type ClientSettings,
  type ClientState,
  ClientTypeSchema,
  GrantType,
  IdTokenAlg,
  Scope,
  TokenEndpointAuthMethod,
} from '../../commands/oauth/index.ts';
import { commonProblems, problemContent } from '../kit/index.ts';

// The client-management API's shapes: settings, clients as shown, consents, and the problems its routes answer.

const Uri = z.string().min(1).max(2000);
const Settings = {
  name: z.string().trim().min(1).max(200),
  redirect_uris: z.array(Uri).max(20),
  post_logout_redirect_uris: z.array(Uri).max(20),
  grant_types: z.array(GrantType).min(1).max(4),
  scopes: z.array(Scope).min(1).max(50),
  token_endpoint_auth_method: TokenEndpointAuthMethod,
  jwks: z.object({ keys: z.array(ClientJwk).max(10) }),
  require_dpop: z.boolean(),
  require_par: z.boolean(),
  id_token_signed_response_alg: IdTokenAlg,
  skip_consent: z.boolean(),
};
export const CreateBody = z.strictObject({
  type: ClientTypeSchema.default('confidential'),
  ...Settings,
  redirect_uris: Settings.redirect_uris.default([]),
  post_logout_redirect_uris: Settings.post_logout_redirect_uris.default([]),
  grant_types: Settings.grant_types.default(['authorization_code', 'refresh_token']),
  scopes: Settings.scopes.default(['openid', 'profile', 'email']),
  token_endpoint_auth_method: Settings.token_endpoint_auth_method.optional(),
  jwks: Settings.jwks.optional(),
  require_dpop: Settings.require_dpop.optional(),
  require_par: Settings.require_par.default(false),
  id_token_signed_response_alg: Settings.id_token_signed_response_alg.default('RS256'),
  skip_consent: Settings.skip_consent.default(false),
});
export const PatchBody = z.strictObject(
  Object.fromEntries(Object.entries(Settings).map(([k, v]) => [k, v.optional()])) as {
    [K in keyof typeof Settings]: z.ZodOptional<(typeof Settings)[K]>;
  },
);
export const RotateBody = z.strictObject({
  keep_previous_for_seconds: z
    .number()
    .int()
    .min(0)
    .max(7 * 86_400)
    .default(0),
});
export const Client = z
  .object({
    client_id: z.uuid(),
    type: ClientTypeSchema,
    name: z.string(),
    redirect_uris: z.array(z.string()),
    post_logout_redirect_uris: z.array(z.string()),
    grant_types: z.array(GrantType),
    scopes: z.array(z.string()),
    token_endpoint_auth_method: TokenEndpointAuthMethod,
    jwks: z.object({ keys: z.array(z.looseObject({})) }),
    require_dpop: z.boolean(),
    require_par: z.boolean(),
    id_token_signed_response_alg: IdTokenAlg,
    skip_consent: z.boolean(),
    created_at: z.iso.datetime(),
    updated_at: z.iso.datetime(),
    revision: z.number().int(),
  })
  .meta({ id: 'OAuthClient' });
export const ClientWithSecret = Client.extend({
  client_secret: z.string().optional().meta({ description: 'Shown once; only its hash is kept' }),
  position: z.string(),
});
export const IdParam = z.object({ id: z.uuid() });
export const ListQuery = z.strictObject({
  limit: z.coerce.number().int().min(1).max(100).default(20),
  cursor: z.string().max(500).optional(),
});
export const Consent = z.object({
  client_id: z.uuid(),
  client_name: z.string(),
  scopes: z.array(z.string()),
  granted_at: z.iso.datetime(),
});

export function present(state: ClientState, revision: number) {
  return {
    client_id: state.clientId,
    type: state.type,
    name: state.name,
    redirect_uris: state.redirectUris,
    post_logout_redirect_uris: state.postLogoutRedirectUris,
    grant_types: state.grantTypes,
    scopes: state.scopes,
    token_endpoint_auth_method: state.tokenEndpointAuthMethod,
    jwks: { keys: state.jwks as Record<string, unknown>[] },
    require_dpop: state.requireDpop,
    require_par: state.requirePar,
    id_token_signed_response_alg: state.idTokenSignedResponseAlg,
    skip_consent: state.skipConsent,
    created_at: state.createdAt,
    updated_at: state.updatedAt,
    revision,
  };
}

/** API field names → the aggregate's settings (only those present). */
export function settingsOf(body: Partial<z.infer<typeof PatchBody>>): Partial<ClientSettings> {
  const map: [keyof typeof body, keyof ClientSettings][] = [
    ['name', 'name'],
    ['redirect_uris', 'redirectUris'],
    ['post_logout_redirect_uris', 'postLogoutRedirectUris'],
    ['grant_types', 'grantTypes'],
    ['scopes', 'scopes'],
    ['token_endpoint_auth_method', 'tokenEndpointAuthMethod'],
    ['require_dpop', 'requireDpop'],
    ['require_par', 'requirePar'],
    ['id_token_signed_response_alg', 'idTokenSignedResponseAlg'],
    ['skip_consent', 'skipConsent'],
  ];
  const out: Record<string, unknown> = {};
  for (const [from, to] of map) if (body[from] !== undefined) out[to] = body[from];
  if (body.jwks !== undefined) out.jwks = body.jwks.keys;
  return out as Partial<ClientSettings>;
}

export const problems = {
  ...commonProblems,
  401: problemContent('No valid access token'),
  403: problemContent('The role lacks the permission (clients:manage)'),
  404: problemContent('No such client in this tenant'),
  412: problemContent('If-Match does not match the current revision'),
  422: problemContent('The settings do not fit together (each field named)'),
};
