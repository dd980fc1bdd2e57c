export { liveAccessToken } from './access-tokens.ts';
export { issueAuthorizationCode } from './authorization/code.ts';
export { grantConsent, needsConsent } from './authorization/consent.ts';
export {
  confirmsSignOut,
  type IdTokenHint,
  signOutConfirmationToken,
  verifiedIdTokenHint,
} from './authorization/id-token-hint.ts';
export {
  type AuthorizationTarget,
  RedirectableError,
  readAuthorizationRequest,
  targetOf,
  validateAuthorizationRequest,
} from './authorization/request.ts';
export {
  checkSignIn,
  endSignInSession,
  predatesCredentials,
  signedIn,
  startSignInSession,
} from './authorization/sign-in.ts';
export { userClaims } from './claims.ts';
export { authenticateClient, type ClientRegistry } from './clients.ts';
export { forgetDeletedTenant } from './deleted-tenant.ts';
export { DPOP_ALGORITHMS, verifyDpopProof } from './dpop.ts';
export { invalidRequest, OAuthError, unauthorizedClient } from './errors.ts';
export { accessTokenStreamId, oauthSummaries } from './events.ts';
export { type OAuthKeys, oauthKeys, type TenantAlgorithm, tenantAlgorithms } from './keys.ts';
export {
  consentPage,
  errorPage,
  formPostPage,
  loginPage,
  type Page,
  signedOutPage,
  signOutPage,
} from './pages.ts';
export { param, refuseRepeated, required } from './params.ts';
export type { ReplayGuard } from './replay-guard.ts';
export type { AuthorizationRequest } from './requests.ts';
export { type OAuthConfig, type OAuthServer, type OAuthUser, oauthServer } from './server.ts';
export {
  asOAuthAccessToken,
  issueOAuthAccessToken,
  type VerifiedOAuthAccessToken,
  verifyOAuthAccessToken,
} from './tokens.ts';
