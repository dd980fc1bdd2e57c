import type { tenantRoles } from '../commands/identity/index.ts';
import { findUser, type UserIds, verifyCredentials } from '../commands/identity/index.ts';
import type { EventStore } from '../eventstore/port.ts';
import type { PasswordHasher } from './passwords.ts';
import type { CurrentUser } from './tokens/index.ts';

/** The narrow view of the identity context login needs (an adapter over `verifyCredentials`). */
export type CredentialsCheck = (
  tenantId: string,
  email: string,
  password: string,
) => Promise<
  | { ok: true; user: { id: string; role: (typeof tenantRoles)[number]; platformSuperadmin: boolean } }
  | { ok: false; reason?: 'invalid_credentials' | 'not_active' }
  /** The right password of a self-registered user whose email is not verified yet (a new link may be sent). */
  | { ok: false; reason: 'email_unverified'; user: { id: string; email: string } }
  /** The right password of a user an admin reset: it signs in only to choose a new one. */
  | {
      ok: false;
      reason: 'password_change_required';
      user: { id: string; role: (typeof tenantRoles)[number]; platformSuperadmin: boolean };
    }
>;

/** The identity context's `verifyCredentials` as login's `CredentialsCheck`. */
export function identityCredentials(deps: {
  store: EventStore;
  hasher: PasswordHasher;
  clock: () => Date;
  /** How user ids derive from emails (keyed); every caller names it, so none falls back to the unkeyed ids. */
  userIds: UserIds | undefined;
}): CredentialsCheck {
  return async (tenantId, email, password) => {
    const result = await verifyCredentials(deps, tenantId, email, password);
    if (!result.ok) {
      if (result.reason === 'email_unverified') {
        return {
          ok: false,
          reason: result.reason,
          user: { id: result.user.userId, email: result.user.email },
        };
      }
      if (result.reason !== 'password_change_required') return { ok: false, reason: result.reason };
      const { userId: id, role, platformSuperadmin } = result.user;
      return { ok: false, reason: result.reason, user: { id, role, platformSuperadmin } };
    }
    const { userId, role, platformSuperadmin } = result.user;
    return { ok: true, user: { id: userId, role, platformSuperadmin } };
  };
}

/**
 * The identity context as token sessions' `currentUser`: on refresh, the user's role now, or undefined
 * once they are removed, rejected or no longer active (the family is then revoked). In a suspended
 * tenant only its owner and the platform superadmin refresh, as only they sign in; anyone else is
 * refused without losing the family, since a suspension is undone by reactivating the tenant.
 */
export function identityCurrentUser(deps: {
  store: EventStore;
  /** Whether the tenant is suspended now (absent: never). */
  tenantSuspended?: (tenantId: string) => Promise<boolean>;
}) {
  return async (tenantId: string, userId: string): Promise<CurrentUser> => {
    const [found, suspended] = await Promise.all([
      findUser(deps.store, tenantId, userId),
      deps.tenantSuspended?.(tenantId) ?? false,
    ]);
    if (found?.state.status !== 'active') return undefined;
    const { role, platformSuperadmin } = found.state;
    if (suspended && role !== 'owner' && !platformSuperadmin) return { refused: 'tenant_suspended' };
    return { role, platformSuperadmin };
  };
}

/** Login throttling as the tenancy context provides it (structural, so either side can change alone). */
export interface LoginThrottlePort {
  checkLogin(key: {
    tenantId: string;
    email: string;
    address?: string | undefined;
  }): Promise<{ allowed: true } | { allowed: false; retryAfterSeconds: number }>;
  recordFailure(key: { tenantId: string; email: string; address?: string | undefined }): Promise<unknown>;
  recordSuccess(key: { tenantId: string; email: string; address?: string | undefined }): Promise<void>;
  /** A right password refused all the same (the account waits for approval, the tenant is suspended). */
  recordRefused(
    key: { tenantId: string; email: string; address?: string | undefined },
    reason: 'not_active' | 'tenant_suspended' | 'password_change_required' | 'email_unverified',
  ): Promise<void>;
}
