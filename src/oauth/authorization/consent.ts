import {
  type ClientState,
  consentCounts,
  coversScopes,
  findConsent,
  handleConsentCommand,
} from '../../commands/oauth/index.ts';
import type { EventMetadata } from '../../eventstore/port.ts';
import type { AuthorizationRequest } from '../requests.ts';
import type { OAuthServer } from '../server.ts';

/**
 * Whether the user must be asked: the client does not skip consent, and the scopes are not all
 * allowed, or were allowed before the client gained a redirect URI (or `prompt=consent`).
 */
export async function needsConsent(
  server: Pick<OAuthServer, 'store'>,
  tenantId: string,
  userId: string,
  client: ClientState,
  request: AuthorizationRequest,
): Promise<boolean> {
  const consent = await findConsent(server.store, tenantId, userId, client.clientId);
  const stands = consentCounts(consent, client.redirectUrisAddedAt) && coversScopes(consent, request.scope);
  return !client.skipConsent && (!stands || request.prompt.includes('consent'));
}

/** The user allowed the client these scopes. */
export async function grantConsent(
  server: Pick<OAuthServer, 'store' | 'clock'>,
  input: {
    tenantId: string;
    userId: string;
    clientId: string;
    scopes: string[];
    redirectUrisAddedAt: string | null;
  },
  metadata: EventMetadata,
) {
  await handleConsentCommand(
    server.store,
    { type: 'GrantConsent', ...input, at: server.clock().toISOString() },
    { metadata },
  );
}
