import { z } from 'zod';
import { type UserIds, unkeyedUserIds } from '../commands/identity/index.ts';
import { type CommandStore, record } from '../commands/kernel/index.ts';
import type { LoginKey, LoginThrottle } from './throttle.ts';

/** Why a sign-in was refused, as `/metrics` counts it (`warden_login_failures_total{reason}`). */
export type LoginFailureReason =
  | 'invalid_credentials'
  | 'not_active'
  | 'tenant_suspended'
  | 'password_change_required'
  | 'email_unverified'
  | 'throttled';

/**
 * An account's failures passed the free ones, so its sign-ins now wait (the backoff). Recorded once
 * per lockout: when the failure that starts the backoff is counted, not on the failures that extend
 * it. `account` is the keyed id of the email's claim (the email itself is personal and is not here);
 * whose it is, the claim stream says while the account exists.
 */
export const loginEventSchemas = {
  LoginLockedOut: z.object({
    tenantId: z.uuid(),
    account: z.uuid(),
    lockedUntil: z.iso.datetime(),
    at: z.iso.datetime(),
  }),
} as const;

/** One stream per tenant holds its lockouts. */
export const loginLockoutStreamId = (tenantId: string) => `identity.LoginLockouts-${tenantId}`;

export interface LoginOutcomeDeps {
  store: CommandStore;
  userIds?: UserIds | undefined;
  clock: () => Date;
  /** Counts refused sign-ins by reason (absent: not counted). */
  failures?: { inc(labels: { reason: LoginFailureReason }): void } | undefined;
}

/**
 * The login throttle, observed: every refused sign-in is counted by reason, and a lockout is recorded
 * as `LoginLockedOut` (with the client address in its metadata). Every sign-in path (Warden's login,
 * the OAuth sign-in page, the password grant) goes through it, so none is missed.
 */
export function observedLoginThrottle(inner: LoginThrottle, deps: LoginOutcomeDeps): LoginThrottle {
  const ids = deps.userIds ?? unkeyedUserIds;
  const count = (reason: LoginFailureReason) => deps.failures?.inc({ reason });
  return {
    ...inner,
    async checkLogin(key) {
      const decision = await inner.checkLogin(key);
      if (!decision.allowed) count('throttled');
      return decision;
    },
    async recordFailure(key: LoginKey) {
      count('invalid_credentials');
      const lock = await inner.recordFailure(key);
      if (lock) {
        const [account] = await ids.candidates(key.tenantId, key.email.trim().toLowerCase());
        await record(
          deps.store,
          loginLockoutStreamId(key.tenantId),
          {
            type: 'LoginLockedOut',
            data: {
              tenantId: key.tenantId,
              account,
              lockedUntil: lock.lockedUntil.toISOString(),
              at: deps.clock().toISOString(),
            },
          },
          loginEventSchemas,
          { metadata: { tenantId: key.tenantId, ...(key.address ? { clientAddress: key.address } : {}) } },
        );
      }
      return lock;
    },
    async recordRefused(key, reason) {
      count(reason);
      await inner.recordRefused(key, reason);
    },
  };
}
