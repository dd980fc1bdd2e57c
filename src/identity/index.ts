export {
  type CredentialsCheck,
  identityCredentials,
  identityCurrentUser,
  type LoginThrottlePort,
} from './credentials.ts';
export { leasedCounter, sweepEndedWindows } from './limits/leased-counter.ts';
export {
  type LoginFailureReason,
  loginEventSchemas,
  loginLockoutStreamId,
  observedLoginThrottle,
} from './login-outcomes.ts';
export { argon2idHasher, isCommonPassword, NewPassword, type PasswordHasher } from './passwords.ts';
export type { Principal, ResolvedTenant } from './principal.ts';
export { type LoginThrottle, loginThrottle } from './throttle.ts';
export { aesKey, base64url, fromBase64url, open, randomToken, seal, sha256 } from './tokens/crypto.ts';
export { tokenFamilyEventSchemas } from './tokens/events.ts';
export { KEY_ENCRYPTION_KEY_FILE, loadKeyEncryptionKey } from './tokens/key-encryption-key.ts';
