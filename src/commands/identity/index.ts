export { type CredentialsResult, verifyCredentials } from './credentials.ts';
export {
  type EmailClaimCommand,
  type EmailClaimState,
  emailClaimDecider,
} from './email-claim.ts';
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
  UserRole,
  UserStatus,
  userEventTypes,
  userStreamId,
} from './events.ts';
export {
  admitSignup,
  changeUser,
  erasePersonalData,
  findUser,
  findUserByEmail,
  type RegisterUserInput,
  registerUser,
  setSignupPolicy,
  signupPolicyOf,
} from './handle.ts';
export { type MembershipCommand, type MembershipState, membershipDecider } from './membership.ts';
export {
  ownerOnlyPermissions,
  type Permission,
  permissions,
  permissionsOf,
  platformPermissions,
  type TenantRole,
  tenantRoles,
} from './permissions.ts';
export { type PasswordHasher, verifyOrDummy } from './ports.ts';
export { isErased, isLive, type UserCommand, type UserState, userDecider } from './user.ts';
export { keyedUserIds, type UserIds, unkeyedUserIds, userIdFor } from './user-ids.ts';
