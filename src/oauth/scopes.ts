import {
  type ClientState,
  oidcScopes,
  ownerOnlyScopes,
  permissionScopes,
  supportedScopes,
} from '../commands/oauth/index.ts';
import { invalidRequest, invalidScope } from './errors.ts';

/**
 * The scopes a request may have: each one known and allowed to the client; OpenID scopes only where
 * a user is involved, owner-only ones never without (a client registered before that rule keeps them
 * in its settings but never in a token). Absent: the client's scopes (client credentials) or an error.
 */
export function resolveScope(
  requested: string | undefined,
  client: ClientState,
  options: { user: boolean; defaultToClient: boolean },
): string[] {
  if (requested === undefined) {
    if (!options.defaultToClient) throw invalidRequest('scope is required');
    return client.scopes.filter(
      (s) => options.user || !((oidcScopes as readonly string[]).includes(s) || ownerOnlyScopes.includes(s)),
    );
  }
  const scopes = [...new Set(requested.split(' ').filter(Boolean))];
  if (scopes.length === 0) throw invalidScope('scope is empty');
  for (const scope of scopes) {
    if (!supportedScopes.includes(scope)) throw invalidScope(`unknown scope ${scope}`);
    if (!client.scopes.includes(scope)) throw invalidScope(`the client may not ask for ${scope}`);
    if (!options.user && (oidcScopes as readonly string[]).includes(scope)) {
      throw invalidScope(`${scope} needs a user; client credentials act for the client itself`);
    }
    if (!options.user && ownerOnlyScopes.includes(scope)) {
      throw invalidScope(`${scope} is the owner's alone; client credentials never carry it`);
    }
  }
  return scopes;
}

/** Warden permissions a scope list grants (OpenID scopes grant none). */
export const scopePermissions = (scopes: readonly string[]) =>
  scopes.filter((s) => (permissionScopes as readonly string[]).includes(s));
