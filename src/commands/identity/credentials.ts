import type { CommandStore } from '../kernel/index.ts';
import { handle } from '../kernel/index.ts';
import { userStreamId } from './events.ts';
import { findUserByEmail } from './handle.ts';
import { type PasswordHasher, verifyOrDummy } from './ports.ts';
import { type UserState, userDecider } from './user.ts';
import { type UserIds, unkeyedUserIds } from './user-ids.ts';

export type CredentialsResult =
  | { ok: true; user: UserState; revision: number }
  /** `not_active` (pending approval) is told only to a caller who knew the password. */
  | { ok: false; reason: 'invalid_credentials' | 'not_active' }
  /** Told only to a caller who knew the password: the self-registered user has not opened their link yet. */
  | { ok: false; reason: 'email_unverified'; user: UserState }
  /**
   * The password is right but an admin reset it: it signs in only to choose a new one (the user is
   * named so that the sign-in which chooses it can go on). Told only to a caller who knew the password.
   */
  | { ok: false; reason: 'password_change_required'; user: UserState };

/**
 * Checks an email and password in a tenant: the user is found through the email's claim, or, for
 * users registered before claims, under the ids derived from the email. An unknown email costs the same argon2 work as a wrong
 * password (a dummy hash is verified) and answers the same. On success, a hash made with other
 * parameters is replaced (best effort: a failed rehash does not fail the login).
 */
export async function verifyCredentials(
  deps: { store: CommandStore; hasher: PasswordHasher; clock: () => Date; userIds?: UserIds | undefined },
  tenantId: string,
  email: string,
  password: string,
): Promise<CredentialsResult> {
  const loaded = await findUserByEmail(deps.store, tenantId, email, deps.userIds ?? unkeyedUserIds);
  const ok = await verifyOrDummy(deps.hasher, loaded?.state.passwordHash, password);
  if (!ok || !loaded) return { ok: false, reason: 'invalid_credentials' };
  const { userId } = loaded;
  if (loaded.state.status !== 'active') return { ok: false, reason: 'not_active' };
  if (!loaded.state.emailVerified) return { ok: false, reason: 'email_unverified', user: loaded.state };
  if (loaded.state.mustChangePassword) {
    return { ok: false, reason: 'password_change_required', user: loaded.state };
  }
  if (deps.hasher.needsRehash(loaded.state.passwordHash)) {
    try {
      const passwordHash = await deps.hasher.hash(password);
      const result = await handle(
        deps.store,
        userStreamId(userId),
        userDecider,
        { type: 'RehashPassword', passwordHash, at: deps.clock().toISOString() },
        { metadata: { tenantId, actorId: userId } },
      );
      return { ok: true, user: result.state, revision: result.revision };
    } catch {
      // The old hash still verifies; the next login tries again.
    }
  }
  return { ok: true, user: loaded.state, revision: loaded.revision };
}
