export { type CredentialsResult, verifyCredentials } from './credentials.ts';
export {
  type EmailClaimCommand,
  type EmailClaimState,
  emailClaimDecider,
} from './email-claim.ts';
export { requestEmailVerification, verifyEmail } from './email-verification.ts';
export {
  Email,
  type EmailClaimEvent,
  ERASED,
  emailClaimStreamId,
  type IdentityEvent,
  type IdentityEventType,
  identityEventSchemas,
  identityEventTypes,
  type MembershipEvent,
  membershipStreamId,
  SignupPolicy,
  type UserEvent,
  UserName,
  Username,
  type UsernameClaimEvent,
  UserRole,
  UserStatus,
  userEventTypes,
  usernameClaimStreamId,
  userStreamId,
} from './events.ts';
export {
  admitSignup,
  changeUser,
  erasePersonalData,
  findUser,
  findUserByEmail,
  findUserByUsername,
  type RegisterUserInput,
  registerUser,
  setSignupPolicy,
  setUsername,
  signupPolicyOf,
} from './handle.ts';
export { type MembershipCommand, type MembershipState, membershipDecider } from './membership.ts';
export {
  changeOwnPassword,
  parseResetToken,
  requestPasswordReset,
  resetPasswordWithToken,
  resetTokenHash,
  setTemporaryPassword,
} from './passwords.ts';
export {
  ownerOnlyPermissions,
  type Permission,
  permissionList,
  permissions,
  permissionsOf,
  platformPermissions,
  type TenantRole,
  tenantRoles,
} from './permissions.ts';
export { type Notification, type Notifier, type PasswordHasher, verifyOrDummy } from './ports.ts';
export {
  isErased,
  isLive,
  resetTokenInvalid,
  type UserCommand,
  type UserState,
  userDecider,
  verificationTokenInvalid,
} from './user.ts';
export { keyedUserIds, type UserIds, unkeyedUserIds, userIdFor } from './user-ids.ts';
export {
  type UsernameClaimCommand,
  type UsernameClaimState,
  usernameClaimDecider,
  usernameTaken,
} from './username-claim.ts';
