import { z } from 'zod';
import type { DomainEvent } from '../kernel/index.ts';
import { tenantRoles } from './permissions.ts';

export const UserRole = z.enum(tenantRoles);
export type UserRole = z.infer<typeof UserRole>;

export const UserStatus = z.enum(['active', 'pending_approval', 'rejected', 'removed']);
export type UserStatus = z.infer<typeof UserStatus>;

/** open: anyone may join; approval: new users wait for an admin; closed: invitation only. */
export const SignupPolicy = z.enum(['open', 'approval', 'closed']);
export type SignupPolicy = z.infer<typeof SignupPolicy>;

/** Emails are compared lowercased: that is the form stored, derived into ids and shown. */
export const Email = z
  .string()
  .trim()
  .max(254, 'must be at most 254 characters')
  .pipe(z.email('must be an email address'))
  .transform((e) => e.toLowerCase());
export const UserName = z
  .string()
  .trim()
  .min(1, 'must not be empty')
  .max(200, 'must be at most 200 characters');
/**
 * A username as GitHub has them: 3–39 letters, digits, hyphens, underscores and dots, beginning and
 * ending with a letter or digit. Unique per tenant without regard to case; never an email (no `@`),
 * so a sign-in's `login` is told apart by its `@`.
 */
export const Username = z
  .string()
  .trim()
  .min(3, 'must be at least 3 characters')
  .max(39, 'must be at most 39 characters')
  .regex(
    /^[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?$/,
    'only letters, digits, hyphens, underscores and dots, beginning and ending with a letter or digit',
  );

const user = { userId: z.uuid(), tenantId: z.uuid() };
const at = z.iso.datetime();

/** The event contract of the identity context: these schemas are what is stored. */
export const identityEventSchemas = {
  UserRegistered: z.object({
    ...user,
    email: Email,
    name: UserName,
    role: UserRole,
    status: z.enum(['active', 'pending_approval']),
    /** The argon2id PHC string; never leaves the event store (no read model, no log line). */
    passwordHash: z.string().min(1),
    /** Set only by the first-start bootstrap: the platform superadmin acts in every tenant. */
    platformSuperadmin: z.boolean().optional(),
    /**
     * Version 2: the email claim this user holds (`emailClaimStreamId`), whose id is keyed-derived from
     * (tenant, email); the user's own id is random. `null` for users registered before email claims
     * (version 1, upcast): their id itself was derived from (tenant, email) and their stream is the claim.
     */
    emailClaimId: z.uuid().nullable(),
    /**
     * False for a self-registration in an open tenant: the user must open the link mailed to them
     * before signing in or being given a role. Absent (earlier events, admin-added, approved sign-ups): verified.
     */
    emailVerified: z.boolean().optional(),
    at,
  }),
  /** A verification link was sent: only its secret's SHA-256 is here. */
  EmailVerificationRequested: z.object({
    ...user,
    tokenHash: z.string().regex(/^[0-9a-f]{64}$/),
    expiresAt: at,
    at,
  }),
  /** The user opened the verification link: the email is theirs. */
  EmailVerified: z.object({ ...user, at }),
  UserApproved: z.object({ ...user, at }),
  UserRejected: z.object({ ...user, at }),
  UserRoleChanged: z.object({ ...user, from: UserRole, to: UserRole, at }),
  /** Other contexts react to this one: the user has left the tenant. */
  UserRemoved: z.object({ ...user, email: Email, at }),
  UserPasswordRehashed: z.object({ ...user, passwordHash: z.string().min(1), at }),
  /** The user chose a new password (knowing the current one, or at a sign-in that required it). */
  PasswordChanged: z.object({ ...user, passwordHash: z.string().min(1), at }),
  /**
   * A reset link was sent: `tokenHash` is the SHA-256 of the link's secret (the secret itself is
   * nowhere but in the mail). `by` is the user themself (forgot-password) or the admin who sent it;
   * `forced`: the old password no longer signs in without choosing a new one.
   */
  PasswordResetRequested: z.object({
    ...user,
    tokenHash: z.string().regex(/^[0-9a-f]{64}$/),
    expiresAt: at,
    by: z.string().min(1).max(200),
    forced: z.boolean(),
    at,
  }),
  /** The reset link was used (once): the password is the one chosen with it. */
  PasswordReset: z.object({ ...user, passwordHash: z.string().min(1), at }),
  /** An admin set a temporary password (shown to them once): the next sign-in must choose a new one. */
  PasswordResetByAdmin: z.object({
    ...user,
    passwordHash: z.string().min(1),
    by: z.string().min(1).max(200),
    at,
  }),
  /**
   * The user's personal-data key was destroyed (crypto-shredding): their email, name and password hash
   * in every earlier event now read as erased. Names the actor (`by`), never the erased data.
   */
  PersonalDataErased: z.object({ ...user, by: z.string().min(1).max(200), at }),
  SignupPolicySet: z.object({ tenantId: z.uuid(), policy: SignupPolicy, at }),
  SeatClaimed: z.object({ ...user, at }),
  SeatReleased: z.object({ ...user, at }),
  /** The membership stream counts owners, so the last one can be neither demoted nor removed. */
  OwnershipClaimed: z.object({ ...user, at }),
  OwnershipReleased: z.object({ ...user, at }),
  /**
   * An email of a tenant is held by `userId`. The claim's id is keyed-derived from (tenant, email), so
   * two registrations of one email race for one stream; the email itself is never stored here.
   */
  EmailClaimed: z.object({ claimId: z.uuid(), ...user, at }),
  /** The holder left (removed, rejected): the next registration of the email is a new person. */
  EmailReleased: z.object({ claimId: z.uuid(), ...user, at }),
  /** The user's username (personal: sealed with their key); `claimId` is its keyed claim. */
  UsernameSet: z.object({ ...user, username: Username, claimId: z.uuid(), at }),
  /** A username of a tenant is held by `userId` (keyed-derived claim id; the username is not here). */
  UsernameClaimed: z.object({ claimId: z.uuid(), ...user, at }),
  /** The holder changed their username or left: it is free again. */
  UsernameReleased: z.object({ claimId: z.uuid(), ...user, at }),
} as const;

type Schemas = typeof identityEventSchemas;
export type IdentityEvent = {
  [K in keyof Schemas]: DomainEvent<K, z.infer<Schemas[K]>>;
}[keyof Schemas];
export type IdentityEventType = IdentityEvent['type'];
export const identityEventTypes = Object.keys(identityEventSchemas) as IdentityEventType[];

export type UserEvent = Extract<
  IdentityEvent,
  {
    type:
      | 'UserRegistered'
      | 'UserApproved'
      | 'UserRejected'
      | 'UserRoleChanged'
      | 'UserRemoved'
      | 'UserPasswordRehashed'
      | 'PasswordChanged'
      | 'PasswordResetRequested'
      | 'PasswordReset'
      | 'PasswordResetByAdmin'
      | 'EmailVerificationRequested'
      | 'EmailVerified'
      | 'UsernameSet'
      | 'PersonalDataErased';
  }
>;
export type MembershipEvent = Extract<
  IdentityEvent,
  {
    type: 'SignupPolicySet' | 'SeatClaimed' | 'SeatReleased' | 'OwnershipClaimed' | 'OwnershipReleased';
  }
>;
export type EmailClaimEvent = Extract<IdentityEvent, { type: 'EmailClaimed' | 'EmailReleased' }>;
export type UsernameClaimEvent = Extract<IdentityEvent, { type: 'UsernameClaimed' | 'UsernameReleased' }>;
export const userEventTypes: readonly UserEvent['type'][] = [
  'UserRegistered',
  'UserApproved',
  'UserRejected',
  'UserRoleChanged',
  'UserRemoved',
  'UserPasswordRehashed',
  'PasswordChanged',
  'PasswordResetRequested',
  'PasswordReset',
  'PasswordResetByAdmin',
  'EmailVerificationRequested',
  'EmailVerified',
  'UsernameSet',
  'PersonalDataErased',
];

/**
 * What a personal field reads as once its key is destroyed. Not an email address, so it can never be
 * a user's login or be derived into a user id.
 */
export const ERASED = '[erased]';

export const userStreamId = (userId: string) => `identity.User-${userId}`;
/** Who holds an email of a tenant; `claimId` is keyed-derived from (tenant, email). */
export const emailClaimStreamId = (claimId: string) => `identity.EmailClaim-${claimId}`;
/** Who holds a username of a tenant; `claimId` is keyed-derived from (tenant, lowercased username). */
export const usernameClaimStreamId = (claimId: string) => `identity.UsernameClaim-${claimId}`;
/** One stream per tenant holds its sign-up policy and its seats (the plan's user limit). */
export const membershipStreamId = (tenantId: string) => `identity.TenantMembership-${tenantId}`;
