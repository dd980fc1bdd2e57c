export {
  type ClientCommand,
  type ClientState,
  type ClientType,
  clientDecider,
  redirectUriProblem,
  scopesNotHeld,
  settingsProblems,
} from './client.ts';
export {
  type ConsentCommand,
  type ConsentState,
  consentCounts,
  consentDecider,
  coversScopes,
} from './consent.ts';
export {
  type ClientEvent,
  ClientJwk,
  ClientSettings,
  ClientType as ClientTypeSchema,
  type ConsentEvent,
  clientEventTypes,
  clientStreamId,
  consentEventTypes,
  consentStreamId,
  GrantType,
  IdTokenAlg,
  type OAuthEvent,
  oauthEventSchemas,
  oidcScopes,
  ownerOnlyScopes,
  permissionScopes,
  Scope,
  supportedScopes,
  TokenEndpointAuthMethod,
} from './events.ts';
export {
  consentIdFor,
  findClient,
  findConsent,
  handleClientCommand,
  handleConsentCommand,
} from './handle.ts';
