import { z } from 'zod';
import {
  ClientJwk,
  type ClientSettings,
  type ClientState,
  ClientTypeSchema,
  GrantType,
  IdTokenAlg,
  IntrospectionAccess,
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
  introspection: IntrospectionAccess.meta({
    description:
      'Whose tokens the client may introspect at /oauth/introspect: `own` (those issued to it) or `tenant` (every token of the tenant: a resource server); any other token is answered `{"active": false}`',
  }),
};
/**
 * RFC 7591 client metadata names, accepted beside today's (which stay): `client_name` for `name`,
 * `scope` (space-separated) for `scopes`, and `response_types`, which must agree with `grant_types`
 * (`["code"]` exactly when `authorization_code` is granted). `token_endpoint_auth_method` is one name in both.
 */
const Rfc7591 = {
  client_name: Settings.name.optional().meta({ description: 'RFC 7591 name of `name`' }),
  scope: z
    .string()
    .max(4000)
    .transform((s) => s.split(/\s+/).filter(Boolean))
    .pipe(z.array(Scope).min(1, 'must name at least one scope').max(50))
    .optional()
    .meta({ description: 'RFC 7591: the scopes as one space-separated string (alias of `scopes`)' }),
  response_types: z
    .array(z.literal('code'))
    .max(1)
    .optional()
    .meta({ description: 'RFC 7591: `["code"]` with the authorization_code grant, `[]` without it' }),
};
const DEFAULT_GRANT_TYPES = ['authorization_code', 'refresh_token'] as const;
const DEFAULT_SCOPES = ['openid', 'profile', 'email'];

type AliasedFields = {
  name?: string | undefined;
  client_name?: string | undefined;
  scopes?: string[] | undefined;
  scope?: string[] | undefined;
  grant_types?: z.infer<typeof GrantType>[] | undefined;
  response_types?: 'code'[] | undefined;
};

/** A field given under both of its names is refused (naming the RFC 7591 one), even when both agree. */
function refuseBothNames(body: AliasedFields, ctx: z.core.$RefinementCtx) {
  for (const [alias, name] of [
    ['client_name', 'name'],
    ['scope', 'scopes'],
  ] as const) {
    if (body[alias] !== undefined && body[name] !== undefined) {
      ctx.addIssue({ code: 'custom', path: [alias], message: `give either ${alias} or ${name}, not both` });
    }
  }
}

/** `response_types` as RFC 7591 §2.1 ties it to `grant_types`. */
export function responseTypesFit(
  responseTypes: readonly string[] | undefined,
  grantTypes: readonly string[],
): boolean {
  if (responseTypes === undefined) return true;
  const code = grantTypes.includes('authorization_code');
  return code ? responseTypes.length === 1 && responseTypes[0] === 'code' : responseTypes.length === 0;
}

const RESPONSE_TYPES_MESSAGE = 'must be ["code"] with the authorization_code grant and [] without it';

export const CreateBody = z
  .strictObject({
    type: ClientTypeSchema.default('confidential'),
    ...Settings,
    name: Settings.name.optional(),
    redirect_uris: Settings.redirect_uris.default([]),
    post_logout_redirect_uris: Settings.post_logout_redirect_uris.default([]),
    grant_types: Settings.grant_types.optional().meta({ default: [...DEFAULT_GRANT_TYPES] }),
    scopes: Settings.scopes.optional().meta({ default: DEFAULT_SCOPES }),
    token_endpoint_auth_method: Settings.token_endpoint_auth_method.optional(),
    jwks: Settings.jwks.optional(),
    require_dpop: Settings.require_dpop.optional(),
    require_par: Settings.require_par.default(false),
    id_token_signed_response_alg: Settings.id_token_signed_response_alg.default('RS256'),
    skip_consent: Settings.skip_consent.default(false),
    introspection: Settings.introspection.default('own'),
    ...Rfc7591,
  })
  .superRefine((body, ctx) => {
    refuseBothNames(body, ctx);
    if (body.name === undefined && body.client_name === undefined) {
      ctx.addIssue({ code: 'custom', path: ['name'], message: 'required (or client_name)' });
    }
    if (!responseTypesFit(body.response_types, body.grant_types ?? DEFAULT_GRANT_TYPES)) {
      ctx.addIssue({ code: 'custom', path: ['response_types'], message: RESPONSE_TYPES_MESSAGE });
    }
  });

/** A registration with its RFC 7591 names folded into today's and the defaults applied. */
export function canonicalCreate(body: z.infer<typeof CreateBody>) {
  const { client_name, scope, response_types: _, ...rest } = body;
  return {
    ...rest,
    name: body.name ?? client_name ?? '',
    scopes: body.scopes ?? scope ?? DEFAULT_SCOPES,
    grant_types: body.grant_types ?? [...DEFAULT_GRANT_TYPES],
  };
}

export const PatchBody = z
  .strictObject({
    ...(Object.fromEntries(Object.entries(Settings).map(([k, v]) => [k, v.optional()])) as {
      [K in keyof typeof Settings]: z.ZodOptional<(typeof Settings)[K]>;
    }),
    ...Rfc7591,
  })
  .superRefine((body, ctx) => {
    refuseBothNames(body, ctx);
    if (body.grant_types && !responseTypesFit(body.response_types, body.grant_types)) {
      ctx.addIssue({ code: 'custom', path: ['response_types'], message: RESPONSE_TYPES_MESSAGE });
    }
  });

/** A change with its RFC 7591 names folded into today's. */
export function canonicalPatch(body: z.infer<typeof PatchBody>) {
  const { client_name, scope, response_types: _, ...rest } = body;
  return {
    ...rest,
    ...(client_name !== undefined ? { name: client_name } : {}),
    ...(scope !== undefined ? { scopes: scope } : {}),
  };
}

export { RESPONSE_TYPES_MESSAGE };
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
    introspection: IntrospectionAccess,
    client_name: z.string().meta({ description: 'RFC 7591: the same as `name`' }),
    scope: z.string().meta({ description: 'RFC 7591: `scopes` as one space-separated string' }),
    response_types: z
      .array(z.string())
      .meta({ description: 'RFC 7591: `["code"]` with the authorization_code grant' }),
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
    introspection: state.introspection,
    client_name: state.name,
    scope: state.scopes.join(' '),
    response_types: state.grantTypes.includes('authorization_code') ? ['code'] : [],
    created_at: state.createdAt,
    updated_at: state.updatedAt,
    revision,
  };
}

/** API field names → the aggregate's settings (only those present). */
export function settingsOf(body: Partial<ReturnType<typeof canonicalPatch>>): Partial<ClientSettings> {
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
    ['introspection', 'introspection'],
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
