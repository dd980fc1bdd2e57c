import { z } from 'zod';

/**
 * Audit records of the OAuth server's protocol work (the client and consent aggregates have their
 * own events in src/commands/oauth). They name clients, users, codes and token ids, never a code,
 * token or secret.
 */
export const authorizationStreamId = (codeId: string) => `oauth.Authorization-${codeId}`;
/**
 * One stream per client-credentials token: its issue and revocation. Not one per client — concurrent
 * appends to a client's stream would queue on its row lock behind each commit's WAL flush, capping a
 * busy client at the commit rate (measured by bench:oauth).
 */
export const accessTokenStreamId = (tokenId: string) => `oauth.AccessToken-${tokenId}`;
export const browserSessionStreamId = (tenantId: string, userId: string) =>
  `oauth.BrowserSessions-${tenantId}-${userId}`;

const at = z.iso.datetime();
export const oauthRecordSchemas = {
  OAuthAuthorizationCodeIssued: z.object({
    codeId: z.uuid(),
    tenantId: z.uuid(),
    clientId: z.uuid(),
    userId: z.uuid(),
    scope: z.array(z.string()),
    redirectUri: z.string(),
    expiresAt: at,
    at,
  }),
  OAuthAuthorizationCodeRedeemed: z.object({ codeId: z.uuid(), clientId: z.uuid(), familyId: z.uuid(), at }),
  /** The code came back after it was used: the tokens issued from it were revoked. */
  OAuthAuthorizationCodeReplayed: z.object({
    codeId: z.uuid(),
    clientId: z.uuid(),
    familyId: z.uuid().nullable(),
    at,
  }),
  OAuthAccessTokenIssued: z.object({
    tenantId: z.uuid(),
    clientId: z.uuid(),
    tokenId: z.string(),
    grantType: z.literal('client_credentials'),
    scope: z.array(z.string()),
    expiresAt: at,
    at,
  }),
  OAuthAccessTokenRevoked: z.object({ tenantId: z.uuid(), clientId: z.uuid(), tokenId: z.string(), at }),
  OAuthUserSignedIn: z.object({ tenantId: z.uuid(), userId: z.uuid(), sid: z.string(), at }),
  OAuthUserSignedOut: z.object({ tenantId: z.uuid(), userId: z.uuid(), sid: z.string(), at }),
} as const;
export type OAuthRecordType = keyof typeof oauthRecordSchemas;
export type OAuthRecord<T extends OAuthRecordType> = z.infer<(typeof oauthRecordSchemas)[T]>;

type Summary = (data: Record<string, unknown>) => string;
const f = (data: Record<string, unknown>, key: string): string => {
  const value = data[key];
  if (Array.isArray(value)) return value.join(' ');
  return typeof value === 'string' || typeof value === 'number' ? String(value) : '?';
};

/** One sentence per OAuth event for the audit trail. */
export const oauthSummaries: Readonly<Record<string, Summary>> = {
  OAuthClientRegistered: (d) =>
    `OAuth client "${f(d, 'name')}" (${f(d, 'clientId')}) registered, ${f(d, 'type')}`,
  OAuthClientUpdated: (d) =>
    `OAuth client ${f(d, 'clientId')} changed: ${Object.keys((d.changes as object | undefined) ?? {}).join(', ')}`,
  OAuthClientSecretRotated: (d) => `OAuth client ${f(d, 'clientId')} secret rotated`,
  OAuthClientDeleted: (d) => `OAuth client ${f(d, 'clientId')} deleted`,
  OAuthConsentGranted: (d) => `User ${f(d, 'userId')} allowed client ${f(d, 'clientId')}: ${f(d, 'scopes')}`,
  OAuthConsentRevoked: (d) => `User ${f(d, 'userId')} withdrew consent from client ${f(d, 'clientId')}`,
  OAuthAuthorizationCodeIssued: (d) =>
    `Authorization code ${f(d, 'codeId')} issued to client ${f(d, 'clientId')} for user ${f(d, 'userId')} (${f(d, 'scope')})`,
  OAuthAuthorizationCodeRedeemed: (d) =>
    `Authorization code ${f(d, 'codeId')} exchanged by client ${f(d, 'clientId')} (grant ${f(d, 'familyId')})`,
  OAuthAuthorizationCodeReplayed: (d) =>
    `Authorization code ${f(d, 'codeId')} presented again by client ${f(d, 'clientId')}: its tokens revoked`,
  OAuthAccessTokenIssued: (d) =>
    `Access token ${f(d, 'tokenId')} issued to client ${f(d, 'clientId')} (client credentials: ${f(d, 'scope')})`,
  OAuthAccessTokenRevoked: (d) => `Access token ${f(d, 'tokenId')} of client ${f(d, 'clientId')} revoked`,
  OAuthUserSignedIn: (d) => `User ${f(d, 'userId')} signed in to the authorization server`,
  OAuthUserSignedOut: (d) => `User ${f(d, 'userId')} signed out of the authorization server`,
};
