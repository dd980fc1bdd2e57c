import { ownerOnlyPermissions } from '../identity/index.ts';
import type { Decider } from '../kernel/index.ts';
import { DomainError, type FieldError, invalid, notFound, ruleViolated, validated } from '../kernel/index.ts';
import {
  type ClientEvent,
  type ClientSettings,
  type GrantType,
  oauthEventSchemas,
  oidcScopes,
  ownerOnlyScopes,
} from './events.ts';

export type ClientType = 'confidential' | 'public';

export interface ClientState extends ClientSettings {
  status: 'none' | 'active' | 'deleted';
  clientId: string;
  tenantId: string;
  type: ClientType;
  secretHash: string | null;
  previousSecretHash: string | null;
  previousValidUntil: string | null;
  createdAt: string;
  updatedAt: string;
  /**
   * When a redirect URI was last added (null: none since registration). A consent given before it
   * was given for codes sent elsewhere: the user is asked again (see `consentCounts`).
   */
  redirectUrisAddedAt: string | null;
}

export type ClientCommand =
  | {
      type: 'RegisterClient';
      clientId: string;
      tenantId: string;
      clientType: ClientType;
      settings: ClientSettings;
      secretHash: string | null;
      /** What the acting caller may do now (a narrowed token's permissions, not its role's): a client gets no more. */
      grantable: readonly string[];
      at: string;
    }
  | {
      type: 'UpdateClient';
      clientId: string;
      tenantId: string;
      changes: Partial<ClientSettings>;
      /** As for RegisterClient: checked when the scopes change. */
      grantable: readonly string[];
      at: string;
    }
  | {
      type: 'RotateClientSecret';
      clientId: string;
      tenantId: string;
      secretHash: string;
      previousValidUntil: string | null;
      at: string;
    }
  | { type: 'DeleteClient'; clientId: string; tenantId: string; at: string };

const initialState = (): ClientState => ({
  status: 'none',
  clientId: '',
  tenantId: '',
  type: 'confidential',
  name: '',
  redirectUris: [],
  postLogoutRedirectUris: [],
  grantTypes: [],
  scopes: [],
  tokenEndpointAuthMethod: 'client_secret_basic',
  jwks: [],
  requireDpop: false,
  requirePar: false,
  idTokenSignedResponseAlg: 'RS256',
  skipConsent: false,
  introspection: 'own',
  secretHash: null,
  previousSecretHash: null,
  previousValidUntil: null,
  createdAt: '',
  updatedAt: '',
  redirectUrisAddedAt: null,
});

const LOOPBACK = new Set(['127.0.0.1', '[::1]', 'localhost']);
// A private-use scheme for native apps (RFC 8252 §7.1): reverse domain name, e.g. com.example.app.
const PRIVATE_USE_SCHEME = /^[a-z][a-z0-9+-]*(\.[a-z0-9+-]+)+:$/;

/**
 * A redirect URI as RFC 9700 §2.1 wants it: absolute, no fragment, compared exactly (no wildcards);
 * https, or http only on a loopback address (native apps), or a private-use scheme for public clients.
 */
export function redirectUriProblem(uri: string, type: ClientType): string | undefined {
  let url: URL;
  try {
    url = new URL(uri);
  } catch {
    return 'must be an absolute URI';
  }
  if (url.hash || uri.includes('#')) return 'must not have a fragment';
  if (uri.includes('*')) return 'must not contain wildcards (redirect URIs are compared exactly)';
  if (url.username || url.password) return 'must not carry credentials';
  if (url.protocol === 'https:') return undefined;
  if (url.protocol === 'http:') {
    return LOOPBACK.has(url.hostname) ? undefined : 'http is allowed only on a loopback address';
  }
  if (type === 'public' && PRIVATE_USE_SCHEME.test(url.protocol)) return undefined;
  return 'must be https, http on a loopback address, or (public clients) a reverse-domain private-use scheme';
}

/** The scopes (OpenID ones aside) a caller holding `grantable` may not hand to a client. */
export function scopesNotHeld(scopes: readonly string[], grantable: readonly string[]): string[] {
  return scopes.filter((s) => !(oidcScopes as readonly string[]).includes(s) && !grantable.includes(s));
}

/** 403 naming what the caller does not hold: nobody registers a client mightier than themselves. */
function mustHold(scopes: readonly string[], grantable: readonly string[]) {
  const missing = scopesNotHeld(scopes, grantable);
  if (missing.length === 0) return;
  const message = `you do not hold ${missing.join(', ')}, so no client of yours may`;
  throw new DomainError('FORBIDDEN', `scopes: ${message}`, { errors: [{ path: 'scopes', message }] });
}

/**
 * A client that skips consent gets a token for whoever opens its link while signed in, an owner too:
 * as mighty as the tenant's mightiest user. So only an owner (who holds the owner-only permissions)
 * turns it on, or moves such a client's redirect URIs (where its codes go).
 */
function mustOwnFirstParty(grantable: readonly string[], path: 'skip_consent' | 'redirect_uris') {
  if (ownerOnlyPermissions.every((p) => grantable.includes(p))) return;
  const message =
    path === 'skip_consent'
      ? 'only an owner lets a client skip consent (it would act for any signed-in user, owners too)'
      : 'only an owner changes where a client that skips consent sends its codes';
  throw new DomainError('FORBIDDEN', `${path}: ${message}`, { errors: [{ path, message }] });
}

/** Everything a client's settings must satisfy together; an empty list when they do. */
export function settingsProblems(type: ClientType, s: ClientSettings, hasSecret: boolean): FieldError[] {
  const problems: FieldError[] = [];
  const grants = new Set<GrantType>(s.grantTypes);
  s.redirectUris.forEach((uri, i) => {
    const problem = redirectUriProblem(uri, type);
    if (problem) problems.push({ path: `redirect_uris.${i}`, message: problem });
  });
  s.postLogoutRedirectUris.forEach((uri, i) => {
    const problem = redirectUriProblem(uri, type);
    if (problem) problems.push({ path: `post_logout_redirect_uris.${i}`, message: problem });
  });
  const ownerOnly = s.scopes.filter((scope) => ownerOnlyScopes.includes(scope));
  if (grants.has('client_credentials') && ownerOnly.length > 0) {
    problems.push({
      path: 'scopes',
      message: `client_credentials tokens act for the client alone and never carry owner-only scopes (${ownerOnly.join(', ')})`,
    });
  }
  if (grants.has('authorization_code') && s.redirectUris.length === 0) {
    problems.push({ path: 'redirect_uris', message: 'the authorization_code grant needs a redirect URI' });
  }
  if (grants.has('refresh_token') && !grants.has('authorization_code') && !grants.has('password')) {
    problems.push({
      path: 'grant_types',
      message: 'refresh_token needs a grant that issues refresh tokens (authorization_code or password)',
    });
  }
  if (type === 'public') {
    if (s.tokenEndpointAuthMethod !== 'none') {
      problems.push({
        path: 'token_endpoint_auth_method',
        message: 'a public client authenticates with none',
      });
    }
    if (grants.has('client_credentials')) {
      problems.push({ path: 'grant_types', message: 'client_credentials needs a confidential client' });
    }
    if (grants.has('password')) {
      problems.push({ path: 'grant_types', message: 'the password grant needs a confidential client' });
    }
    if (s.introspection !== 'own') {
      problems.push({ path: 'introspection', message: 'a public client cannot introspect tokens' });
    }
  } else {
    if (s.tokenEndpointAuthMethod === 'none') {
      problems.push({
        path: 'token_endpoint_auth_method',
        message: 'a confidential client must authenticate',
      });
    }
    if (s.tokenEndpointAuthMethod === 'private_key_jwt' && s.jwks.length === 0) {
      problems.push({ path: 'jwks', message: 'private_key_jwt needs at least one public key' });
    }
    if (s.tokenEndpointAuthMethod.startsWith('client_secret') && !hasSecret) {
      problems.push({ path: 'token_endpoint_auth_method', message: 'client secret methods need a secret' });
    }
  }
  return problems;
}

function decide(command: ClientCommand, state: ClientState): ClientEvent[] {
  if (command.type === 'RegisterClient') {
    if (state.status !== 'none') throw new DomainError('CONFLICT', 'the client exists already');
    mustHold(command.settings.scopes, command.grantable);
    if (command.settings.skipConsent) mustOwnFirstParty(command.grantable, 'skip_consent');
    const problems = settingsProblems(command.clientType, command.settings, command.secretHash !== null);
    if (problems.length > 0) throw invalid(problems);
    return [
      {
        type: 'OAuthClientRegistered',
        data: {
          clientId: command.clientId,
          tenantId: command.tenantId,
          type: command.clientType,
          ...command.settings,
          secretHash: command.secretHash,
          at: command.at,
        },
      },
    ];
  }
  if (state.status !== 'active' || state.tenantId !== command.tenantId) throw notFound('client');
  switch (command.type) {
    case 'UpdateClient': {
      const { scopes } = command.changes;
      if (scopes && JSON.stringify(scopes) !== JSON.stringify(state.scopes))
        mustHold(scopes, command.grantable);
      const next = { ...state, ...defined(command.changes) };
      if (next.skipConsent && !state.skipConsent) mustOwnFirstParty(command.grantable, 'skip_consent');
      const { redirectUris } = command.changes;
      if (next.skipConsent && redirectUris?.some((uri) => !state.redirectUris.includes(uri))) {
        mustOwnFirstParty(command.grantable, 'redirect_uris');
      }
      const problems = settingsProblems(state.type, next, state.secretHash !== null);
      if (problems.length > 0) throw invalid(problems);
      const changed = Object.fromEntries(
        Object.entries(command.changes).filter(
          ([key, value]) => JSON.stringify(state[key as keyof ClientSettings]) !== JSON.stringify(value),
        ),
      ) as Partial<ClientSettings>;
      if (Object.keys(changed).length === 0) return [];
      return [
        {
          type: 'OAuthClientUpdated',
          data: { clientId: state.clientId, tenantId: state.tenantId, changes: changed, at: command.at },
        },
      ];
    }
    case 'RotateClientSecret':
      if (state.type === 'public') {
        throw ruleViolated('public_client_has_no_secret', 'a public client has no secret to rotate');
      }
      return [
        {
          type: 'OAuthClientSecretRotated',
          data: {
            clientId: state.clientId,
            tenantId: state.tenantId,
            secretHash: command.secretHash,
            previousValidUntil: command.previousValidUntil,
            at: command.at,
          },
        },
      ];
    case 'DeleteClient':
      return [
        {
          type: 'OAuthClientDeleted',
          data: { clientId: state.clientId, tenantId: state.tenantId, at: command.at },
        },
      ];
  }
}

function evolve(state: ClientState, event: ClientEvent): ClientState {
  switch (event.type) {
    case 'OAuthClientRegistered': {
      const { type, secretHash, at, introspection, ...rest } = event.data;
      return {
        ...state,
        ...rest,
        introspection: introspection ?? 'own',
        status: 'active',
        type,
        secretHash,
        createdAt: at,
        updatedAt: at,
      };
    }
    case 'OAuthClientUpdated': {
      const added = event.data.changes.redirectUris?.some((uri) => !state.redirectUris.includes(uri));
      return {
        ...state,
        ...defined(event.data.changes),
        updatedAt: event.data.at,
        ...(added ? { redirectUrisAddedAt: event.data.at } : {}),
      };
    }
    case 'OAuthClientSecretRotated':
      return {
        ...state,
        secretHash: event.data.secretHash,
        previousSecretHash: event.data.previousValidUntil ? state.secretHash : null,
        previousValidUntil: event.data.previousValidUntil,
        updatedAt: event.data.at,
      };
    case 'OAuthClientDeleted':
      return { ...state, status: 'deleted', updatedAt: event.data.at };
  }
}

/** The changes that carry a value (zod's partial types allow explicit undefined). */
const defined = (changes: Partial<Record<keyof ClientSettings, unknown>>) =>
  Object.fromEntries(Object.entries(changes).filter(([, v]) => v !== undefined)) as Partial<ClientSettings>;

export const clientDecider: Decider<ClientCommand, ClientEvent, ClientState> = validated(
  { initialState, decide, evolve },
  oauthEventSchemas,
);
