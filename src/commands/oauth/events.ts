import { z } from 'zod';
import { ownerOnlyPermissions, permissions, platformPermissions } from '../identity/index.ts';
import type { DomainEvent } from '../kernel/index.ts';

/** OpenID scopes, then Warden's permissions as scopes: a token may do what its user may and its scopes allow. */
export const oidcScopes = ['openid', 'profile', 'email', 'offline_access'] as const;
/** Permissions no OAuth token ever carries: platform administration stays with Warden's own sign-in. */
export const unscopedPermissions = ['platform:manage', 'projections:rebuild'] as const;
export const permissionScopes = permissions.filter(
  (p) => !(unscopedPermissions as readonly string[]).includes(p),
);
export const supportedScopes: readonly string[] = [...oidcScopes, ...permissionScopes];
/**
 * Scopes a client-credentials token never carries: the client is its own subject, so owner-only
 * powers (renaming the tenant, its sign-up policy and domains) would outlive any owner's say.
 */
export const ownerOnlyScopes: readonly string[] = [...ownerOnlyPermissions, ...platformPermissions];
export const Scope = z.enum(supportedScopes as [string, ...string[]]);

export const GrantType = z.enum(['authorization_code', 'refresh_token', 'client_credentials', 'password']);
export type GrantType = z.infer<typeof GrantType>;
export const ClientType = z.enum(['confidential', 'public']);
export const TokenEndpointAuthMethod = z.enum([
  'client_secret_basic',
  'client_secret_post',
  'private_key_jwt',
  'none',
]);
export type TokenEndpointAuthMethod = z.infer<typeof TokenEndpointAuthMethod>;
export const IdTokenAlg = z.enum(['RS256', 'ES256', 'EdDSA']);
export type IdTokenAlg = z.infer<typeof IdTokenAlg>;
/**
 * Whose tokens a client may introspect (RFC 7662 §4): `own`, those issued to it; `tenant`, every
 * token of its tenant (a resource server the tenant vouches for).
 */
export const IntrospectionAccess = z.enum(['own', 'tenant']);
export type IntrospectionAccess = z.infer<typeof IntrospectionAccess>;

/** A public key for `private_key_jwt`: never a private one. */
export const ClientJwk = z
  .looseObject({
    kty: z.enum(['RSA', 'EC', 'OKP']),
    kid: z.string().min(1).max(200).optional(),
    alg: z.string().max(20).optional(),
    use: z.literal('sig').optional(),
  })
  .refine((k) => !('d' in k) && !('p' in k) && !('q' in k), 'must be a public key (no private members)');

const client = { clientId: z.uuid(), tenantId: z.uuid() };
const at = z.iso.datetime();
/** SHA-256 of a 256-bit random secret, base64url: a fast hash suffices for secrets nobody chose. */
const SecretHash = z.string().regex(/^[A-Za-z0-9_-]{43}$/);

export const ClientSettings = z.object({
  name: z.string().min(1).max(200),
  redirectUris: z.array(z.string()).max(20),
  postLogoutRedirectUris: z.array(z.string()).max(20),
  grantTypes: z.array(GrantType).min(1),
  scopes: z.array(Scope).min(1),
  tokenEndpointAuthMethod: TokenEndpointAuthMethod,
  jwks: z.array(ClientJwk).max(10),
  /** Access and refresh tokens only bound to a DPoP key (RFC 9449); always on for public clients. */
  requireDpop: z.boolean(),
  /** Authorization requests only through PAR (RFC 9126). */
  requirePar: z.boolean(),
  idTokenSignedResponseAlg: IdTokenAlg,
  /** Skip the consent page (first-party clients an admin vouches for). */
  skipConsent: z.boolean(),
  introspection: IntrospectionAccess,
});
export type ClientSettings = z.infer<typeof ClientSettings>;

export const oauthEventSchemas = {
  OAuthClientRegistered: z.object({
    ...client,
    type: ClientType,
    ...ClientSettings.shape,
    /** Absent from registrations made before it existed: those clients introspect their own tokens. */
    introspection: IntrospectionAccess.optional(),
    secretHash: SecretHash.nullable(),
    at,
  }),
  OAuthClientUpdated: z.object({ ...client, changes: ClientSettings.partial(), at }),
  OAuthClientSecretRotated: z.object({
    ...client,
    secretHash: SecretHash,
    /** The previous secret keeps working until then (null: not at all). */
    previousValidUntil: at.nullable(),
    at,
  }),
  OAuthClientDeleted: z.object({ ...client, at }),
  OAuthConsentGranted: z.object({
    tenantId: z.uuid(),
    userId: z.uuid(),
    clientId: z.uuid(),
    scopes: z.array(Scope),
    at,
  }),
  OAuthConsentRevoked: z.object({ tenantId: z.uuid(), userId: z.uuid(), clientId: z.uuid(), at }),
} as const;

type Schemas = typeof oauthEventSchemas;
export type OAuthEvent = {
  [K in keyof Schemas]: DomainEvent<K, z.infer<Schemas[K]>>;
}[keyof Schemas];
export type ClientEvent = Extract<
  OAuthEvent,
  {
    type: 'OAuthClientRegistered' | 'OAuthClientUpdated' | 'OAuthClientSecretRotated' | 'OAuthClientDeleted';
  }
>;
export type ConsentEvent = Extract<OAuthEvent, { type: 'OAuthConsentGranted' | 'OAuthConsentRevoked' }>;
export const clientEventTypes: readonly ClientEvent['type'][] = [
  'OAuthClientRegistered',
  'OAuthClientUpdated',
  'OAuthClientSecretRotated',
  'OAuthClientDeleted',
];
export const consentEventTypes: readonly ConsentEvent['type'][] = [
  'OAuthConsentGranted',
  'OAuthConsentRevoked',
];

export const clientStreamId = (clientId: string) => `oauth.Client-${clientId}`;
export const consentStreamId = (consentId: string) => `oauth.Consent-${consentId}`;
