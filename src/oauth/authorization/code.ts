import type { EventMetadata } from '../../eventstore/port.ts';
import { authorizationStreamId } from '../events.ts';
import type { AuthorizationRequest } from '../requests.ts';
import type { OAuthServer } from '../server.ts';

/** Signed in, consented: issues the authorization code (recorded for the audit) and returns it. */
export async function issueAuthorizationCode(
  server: OAuthServer,
  input: {
    tenantId: string;
    request: AuthorizationRequest;
    session: { sid: string; userId: string; authTime: Date };
    metadata: EventMetadata;
  },
): Promise<string> {
  const { tenantId, request, session } = input;
  const now = server.clock();
  const { code, codeId, expiresAt } = await server.codes.issue({
    tenantId,
    clientId: request.clientId,
    userId: session.userId,
    redirectUri: request.redirectUri,
    scope: request.scope,
    nonce: request.nonce,
    codeChallenge: request.codeChallenge,
    authTime: session.authTime,
    sessionId: session.sid,
    dpopJkt: request.dpopJkt,
  });
  await server.record(
    authorizationStreamId(codeId),
    'OAuthAuthorizationCodeIssued',
    {
      codeId,
      tenantId,
      clientId: request.clientId,
      userId: session.userId,
      scope: request.scope,
      redirectUri: request.redirectUri,
      expiresAt: expiresAt.toISOString(),
      at: now.toISOString(),
    },
    input.metadata,
  );
  return code;
}
