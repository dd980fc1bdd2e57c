import type { Decider } from '../kernel/index.ts';
import { validated } from '../kernel/index.ts';
import { type ConsentEvent, oauthEventSchemas } from './events.ts';

/** What one user has allowed one client: remembered, so the consent page is asked once per scope. */
export interface ConsentState {
  scopes: string[];
  grantedAt: string | null;
  revokedAt: string | null;
}

export type ConsentCommand =
  | {
      type: 'GrantConsent';
      tenantId: string;
      userId: string;
      clientId: string;
      scopes: string[];
      at: string;
      /** The client's `redirectUrisAddedAt`: a consent from before it is granted anew, not kept. */
      redirectUrisAddedAt?: string | null;
    }
  | { type: 'RevokeConsent'; tenantId: string; userId: string; clientId: string; at: string };

function decide(command: ConsentCommand, state: ConsentState): ConsentEvent[] {
  const { tenantId, userId, clientId, at } = command;
  if (command.type === 'GrantConsent') {
    // Consent accumulates: a new request for more scopes adds them to what was allowed before.
    const scopes = [...new Set([...state.scopes, ...command.scopes])].sort();
    if (scopes.length === state.scopes.length && consentCounts(state, command.redirectUrisAddedAt ?? null)) {
      return [];
    }
    return [{ type: 'OAuthConsentGranted', data: { tenantId, userId, clientId, scopes, at } }];
  }
  if (state.scopes.length === 0) return [];
  return [{ type: 'OAuthConsentRevoked', data: { tenantId, userId, clientId, at } }];
}

function evolve(state: ConsentState, event: ConsentEvent): ConsentState {
  if (event.type === 'OAuthConsentGranted') {
    return { scopes: event.data.scopes, grantedAt: event.data.at, revokedAt: null };
  }
  return { scopes: [], grantedAt: state.grantedAt, revokedAt: event.data.at };
}

export const consentDecider: Decider<ConsentCommand, ConsentEvent, ConsentState> = validated(
  { initialState: () => ({ scopes: [], grantedAt: null, revokedAt: null }), decide, evolve },
  oauthEventSchemas,
);

/**
 * Whether a consent still stands for the client as it is now: given, and after the client last gained
 * a redirect URI. Whoever manages the client (an admin) could otherwise point it at their own server
 * and collect, without a consent page, the codes of users who allowed it before.
 */
export const consentCounts = (state: ConsentState, redirectUrisAddedAt: string | null) =>
  state.grantedAt !== null && (redirectUrisAddedAt === null || state.grantedAt > redirectUrisAddedAt);

/** True when every scope asked for was allowed before. */
export const coversScopes = (state: ConsentState, scopes: readonly string[]) =>
  scopes.every((s) => state.scopes.includes(s));
