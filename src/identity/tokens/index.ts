export {
  ACCESS_TOKEN_TYPE,
  type AccessClaims,
  type AccessTokenConfig,
  type AccessVerification,
  type InvalidTokenReason,
  issueAccessToken,
  type VerifiedAccessToken,
  verifyAccessToken,
} from './access.ts';
export {
  SIGNING_KEYS_STREAM,
  SigningKeyRotated,
  type TokenFamilyEventType,
  TokenFamilyIssued,
  TokenFamilyRevoked,
  TokenFamilyRotated,
  tokenFamilyEventSchemas,
  tokenFamilyStreamId,
} from './events.ts';
export {
  type KeyInfo,
  type KeyRing,
  type KeyRingOptions,
  KeyRotationTooSoonError,
  type KeyState,
  keyRing,
  type PublicJwk,
  type RotationResult,
  SIGNING_ALGORITHM,
  type SigningKey,
} from './keys.ts';
export { revokeFamilies } from './revocation.ts';
export type {
  CurrentUser,
  RefreshConfig,
  RefreshFailure,
  RefreshResult,
  SessionUser,
  TokenPair,
  TokenSessionDeps,
  TokenSessions,
} from './session-types.ts';
export { tokenSessions } from './sessions.ts';
