import type { Decider } from '../kernel/index.ts';
import { conflict, forbidden, notFound, ruleViolated, validated } from '../kernel/index.ts';
import {
  ERASED,
  identityEventSchemas,
  type SignupPolicy,
  type UserEvent,
  type UserRole,
  type UserStatus,
} from './events.ts';
import { signupClosed } from './membership.ts';

export interface UserState {
  exists: boolean;
  userId: string;
  tenantId: string;
  email: string;
  name: string;
  role: UserRole;
  status: UserStatus;
  passwordHash: string;
  platformSuperadmin: boolean;
  /** The email claim held (removal releases it); null for a user whose id derives from the email. */
  emailClaimId: string | null;
  /** The username as the user typed it (unique per tenant without regard to case), or null. */
  username: string | null;
  /** The username's claim (released when the username changes or the user leaves). */
  usernameClaimId: string | null;
  /** False until a self-registered user of an open tenant opens their verification link. */
  emailVerified: boolean;
  /** The verification link sent last and not used yet (its secret's SHA-256), or null. */
  emailVerification: { tokenHash: string; expiresAt: string } | null;
  /** An admin reset the password: a sign-in must choose a new one before anything else. */
  mustChangePassword: boolean;
  /** The reset link sent last and not used yet (its secret's SHA-256), or null. */
  passwordReset: { tokenHash: string; expiresAt: string } | null;
  /**
   * When the password last changed or an admin reset it: a sign-in from before this (an SSO session
   * of the authorization server, a code it issued) no longer counts. Null until then.
   */
  credentialsChangedAt: string | null;
  createdAt: string;
  updatedAt: string;
}

/**
 * Commands carry their time and ids. `RegisterUser` carries the tenant's sign-up policy as read by
 * the handler; `via: 'admin'` (an admin or the first-start bootstrap adds the user) skips the policy.
 */
export type UserCommand =
  | {
      type: 'RegisterUser';
      userId: string;
      tenantId: string;
      email: string;
      name: string;
      role: UserRole;
      passwordHash: string;
      /** The keyed id of the email's claim, which the handler has claimed for `userId`. */
      emailClaimId: string;
      via: 'signup' | 'admin';
      policy: SignupPolicy;
      /** Only with `via: 'admin'` (the first-start bootstrap). */
      platformSuperadmin?: boolean;
      /** A username the handler has claimed for `userId` (optional at registration). */
      username?: { username: string; claimId: string } | undefined;
      at: string;
    }
  /** `claimId` is the new username's claim, which the handler has claimed for the user. */
  | { type: 'SetUsername'; username: string; claimId: string; at: string }
  | { type: 'ApproveUser'; at: string }
  | { type: 'RejectUser'; at: string }
  | { type: 'ChangeRole'; role: UserRole; actorIsOwner: boolean; at: string }
  | { type: 'RemoveUser'; actorIsOwner: boolean; at: string }
  | { type: 'RehashPassword'; passwordHash: string; at: string }
  /** The handler has checked the current password (or the sign-in that required the change). */
  | { type: 'ChangePassword'; passwordHash: string; at: string }
  /** `tokenHash`: SHA-256 of the link's secret; `by` the user themself or the admin (`forced`). */
  | {
      type: 'RequestPasswordReset';
      tokenHash: string;
      expiresAt: string;
      by: string;
      forced: boolean;
      actorIsOwner: boolean;
      at: string;
    }
  /** Uses the reset link whose secret hashes to `tokenHash` (once, before it expires). */
  | { type: 'ResetPassword'; tokenHash: string; passwordHash: string; at: string }
  /** An admin sets a temporary password; the user must choose a new one at their next sign-in. */
  | { type: 'SetTemporaryPassword'; passwordHash: string; by: string; actorIsOwner: boolean; at: string }
  /** Records a verification link (`tokenHash`: its secret's SHA-256); nothing when already verified. */
  | { type: 'RequestEmailVerification'; tokenHash: string; expiresAt: string; at: string }
  /** Uses the verification link whose secret hashes to `tokenHash`. */
  | { type: 'VerifyEmail'; tokenHash: string; at: string }
  /** Only of a user no longer live (the handler removes a live one first); `by` is the actor. */
  | { type: 'ErasePersonalData'; by: string; actorIsOwner: boolean; at: string };

// `actorIsOwner` on a command: the actor is an owner of the user's tenant or the platform superadmin.
// Only such an actor may touch an owner (grant or take the role, remove, erase): an admin manages
// users, but not the people who can remove the admin.

const initialState = (): UserState => ({
  exists: false,
  userId: '',
  tenantId: '',
  email: '',
  name: '',
  role: 'member',
  status: 'active',
  passwordHash: '',
  platformSuperadmin: false,
  emailClaimId: null,
  username: null,
  usernameClaimId: null,
  emailVerified: true,
  emailVerification: null,
  mustChangePassword: false,
  passwordReset: null,
  credentialsChangedAt: null,
  createdAt: '',
  updatedAt: '',
});

/** The user's personal data was erased (their email reads as the placeholder, never an address). */
export const isErased = (state: UserState) => state.exists && state.email === ERASED;

/** A user holds an email (and a seat) while active or waiting for approval. */
export const isLive = (state: UserState) =>
  state.exists && (state.status === 'active' || state.status === 'pending_approval');

/** A reset link that is unknown, used, superseded or expired: the rule `reset_token_invalid`. */
export const resetTokenInvalid = (why: string) =>
  ruleViolated('reset_token_invalid', `the reset link is not valid: ${why}; ask for a new one`);

/** A verification link that is unknown, used, superseded or expired: the rule `verification_token_invalid`. */
export const verificationTokenInvalid = (why: string) =>
  ruleViolated('verification_token_invalid', `the verification link is not valid: ${why}`);

const ownersOnly = () =>
  forbidden('only an owner may grant or take the owner role, or remove or erase an owner');

function decide(command: UserCommand, state: UserState): UserEvent[] {
  if (command.type === 'RegisterUser') {
    // The policy first: a closed tenant answers alike whether or not the email is taken.
    if (command.via === 'signup' && command.policy === 'closed') throw signupClosed();
    if (isLive(state)) throw conflict('a user with this email already exists in this tenant');
    const { userId, tenantId, email, name, role, passwordHash, emailClaimId, at } = command;
    const status = command.via === 'signup' && command.policy === 'approval' ? 'pending_approval' : 'active';
    // An open tenant admits anyone who asks: the email must prove to be theirs before it counts.
    const unverified = command.via === 'signup' && command.policy === 'open';
    return [
      {
        type: 'UserRegistered',
        data: {
          userId,
          tenantId,
          email,
          name,
          role,
          status,
          passwordHash,
          ...(command.via === 'admin' && command.platformSuperadmin === true
            ? { platformSuperadmin: true }
            : {}),
          emailClaimId,
          ...(unverified ? { emailVerified: false } : {}),
          at,
        },
      },
      ...(command.username
        ? [
            {
              type: 'UsernameSet' as const,
              data: { userId, tenantId, ...command.username, at },
            },
          ]
        : []),
    ];
  }
  if (command.type === 'ErasePersonalData') {
    if (!state.exists) throw notFound('user');
    // A removed owner still holds the role: their data is an owner's to erase, too.
    if (state.role === 'owner' && !command.actorIsOwner) throw ownersOnly();
    if (isLive(state)) throw conflict('remove the user before erasing their personal data');
    if (isErased(state)) return [];
    const { userId, tenantId } = state;
    return [{ type: 'PersonalDataErased', data: { userId, tenantId, by: command.by, at: command.at } }];
  }
  if (!isLive(state)) throw notFound('user');
  const { userId, tenantId } = state;
  switch (command.type) {
    case 'ApproveUser':
      if (state.status !== 'pending_approval') throw conflict('the user is not waiting for approval');
      return [{ type: 'UserApproved', data: { userId, tenantId, at: command.at } }];
    case 'RejectUser':
      if (state.status !== 'pending_approval') throw conflict('the user is not waiting for approval');
      return [{ type: 'UserRejected', data: { userId, tenantId, at: command.at } }];
    case 'ChangeRole':
      if (command.role === state.role) return [];
      if (!state.emailVerified) {
        throw ruleViolated(
          'email_unverified',
          'the user has not verified their email yet: no role can be given',
        );
      }
      if ((command.role === 'owner' || state.role === 'owner') && !command.actorIsOwner) throw ownersOnly();
      return [
        {
          type: 'UserRoleChanged',
          data: { userId, tenantId, from: state.role, to: command.role, at: command.at },
        },
      ];
    case 'RemoveUser':
      if (state.role === 'owner' && !command.actorIsOwner) throw ownersOnly();
      return [{ type: 'UserRemoved', data: { userId, tenantId, email: state.email, at: command.at } }];
    case 'SetUsername':
      if (command.username === state.username && command.claimId === state.usernameClaimId) return [];
      return [
        {
          type: 'UsernameSet',
          data: { userId, tenantId, username: command.username, claimId: command.claimId, at: command.at },
        },
      ];
    case 'ChangePassword':
      if (state.status !== 'active') throw conflict('the user is not active');
      return [
        {
          type: 'PasswordChanged',
          data: { userId, tenantId, passwordHash: command.passwordHash, at: command.at },
        },
      ];
    case 'RequestPasswordReset': {
      if (state.status !== 'active') throw conflict('the user is not active');
      if (state.role === 'owner' && command.forced && !command.actorIsOwner) throw ownersOnly();
      const { tokenHash, expiresAt, by, forced, at } = command;
      return [
        { type: 'PasswordResetRequested', data: { userId, tenantId, tokenHash, expiresAt, by, forced, at } },
      ];
    }
    case 'ResetPassword': {
      const pending = state.passwordReset;
      if (pending === null || pending.tokenHash !== command.tokenHash) {
        throw resetTokenInvalid('it is unknown, already used, or a newer one was sent');
      }
      if (Date.parse(command.at) >= Date.parse(pending.expiresAt)) throw resetTokenInvalid('it has expired');
      if (state.status !== 'active') throw resetTokenInvalid('the account is not active');
      return [
        {
          type: 'PasswordReset',
          data: { userId, tenantId, passwordHash: command.passwordHash, at: command.at },
        },
      ];
    }
    case 'SetTemporaryPassword':
      if (state.status !== 'active') throw conflict('the user is not active');
      if (state.role === 'owner' && !command.actorIsOwner) throw ownersOnly();
      return [
        {
          type: 'PasswordResetByAdmin',
          data: { userId, tenantId, passwordHash: command.passwordHash, by: command.by, at: command.at },
        },
      ];
    case 'RequestEmailVerification': {
      if (state.emailVerified) return [];
      const { tokenHash, expiresAt, at } = command;
      return [{ type: 'EmailVerificationRequested', data: { userId, tenantId, tokenHash, expiresAt, at } }];
    }
    case 'VerifyEmail': {
      const pending = state.emailVerification;
      if (state.emailVerified || pending === null || pending.tokenHash !== command.tokenHash) {
        throw verificationTokenInvalid('it is unknown, already used, or a newer one was sent');
      }
      if (Date.parse(command.at) >= Date.parse(pending.expiresAt)) {
        throw verificationTokenInvalid('it has expired; sign in to get a new one');
      }
      return [{ type: 'EmailVerified', data: { userId, tenantId, at: command.at } }];
    }
    case 'RehashPassword':
      return [
        {
          type: 'UserPasswordRehashed',
          data: { userId, tenantId, passwordHash: command.passwordHash, at: command.at },
        },
      ];
  }
}

function evolve(state: UserState, event: UserEvent): UserState {
  switch (event.type) {
    case 'UserRegistered':
      return {
        exists: true,
        userId: event.data.userId,
        tenantId: event.data.tenantId,
        email: event.data.email,
        name: event.data.name,
        role: event.data.role,
        status: event.data.status,
        passwordHash: event.data.passwordHash,
        platformSuperadmin: event.data.platformSuperadmin === true,
        emailClaimId: event.data.emailClaimId,
        username: null,
        usernameClaimId: null,
        emailVerified: event.data.emailVerified !== false,
        emailVerification: null,
        mustChangePassword: false,
        passwordReset: null,
        credentialsChangedAt: null,
        createdAt: event.data.at,
        updatedAt: event.data.at,
      };
    case 'UserApproved':
      return { ...state, status: 'active', updatedAt: event.data.at };
    case 'UserRejected':
      return { ...state, status: 'rejected', updatedAt: event.data.at };
    case 'UserRoleChanged':
      return { ...state, role: event.data.to, updatedAt: event.data.at };
    case 'UserRemoved':
      return { ...state, status: 'removed', updatedAt: event.data.at };
    case 'UserPasswordRehashed':
      return { ...state, passwordHash: event.data.passwordHash };
    case 'PasswordChanged':
    case 'PasswordReset':
      return {
        ...state,
        passwordHash: event.data.passwordHash,
        mustChangePassword: false,
        passwordReset: null,
        credentialsChangedAt: event.data.at,
        updatedAt: event.data.at,
      };
    case 'PasswordResetRequested':
      return {
        ...state,
        mustChangePassword: state.mustChangePassword || event.data.forced,
        passwordReset: { tokenHash: event.data.tokenHash, expiresAt: event.data.expiresAt },
        // An admin's forced reset says the password is not to be trusted: its sign-ins end too.
        credentialsChangedAt: event.data.forced ? event.data.at : (state.credentialsChangedAt ?? null),
        updatedAt: event.data.at,
      };
    case 'EmailVerificationRequested':
      return {
        ...state,
        emailVerification: { tokenHash: event.data.tokenHash, expiresAt: event.data.expiresAt },
        updatedAt: event.data.at,
      };
    case 'EmailVerified':
      return { ...state, emailVerified: true, emailVerification: null, updatedAt: event.data.at };
    case 'PasswordResetByAdmin':
      return {
        ...state,
        passwordHash: event.data.passwordHash,
        mustChangePassword: true,
        passwordReset: null,
        credentialsChangedAt: event.data.at,
        updatedAt: event.data.at,
      };
    case 'UsernameSet':
      return {
        ...state,
        username: event.data.username,
        usernameClaimId: event.data.claimId,
        updatedAt: event.data.at,
      };
    case 'PersonalDataErased':
      return {
        ...state,
        email: ERASED,
        name: ERASED,
        username: state.username === null ? null : ERASED,
        passwordHash: '',
        passwordReset: null,
        updatedAt: event.data.at,
      };
    default:
      return state;
  }
}

/**
 * A tenant member. Its id is random since email claims (`emailClaimDecider` serialises registrations
 * of one email); users registered before them have an id derived from (tenant, lowercased email).
 */
export const userDecider: Decider<UserCommand, UserEvent, UserState> = validated(
  { initialState, decide, evolve },
  identityEventSchemas,
);
