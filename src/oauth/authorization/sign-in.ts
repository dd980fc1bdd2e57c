import type { EventMetadata } from '../../eventstore/port.ts';
import type { BrowserSession } from '../browser-sessions.ts';
import { browserSessionStreamId } from '../events.ts';
import type { OAuthServer, OAuthUser } from '../server.ts';

/** The sign-in form's outcome: the user, or what the page says again (and with which status). */
export type SignInCheck =
  | { ok: true; userId: string }
  | { ok: false; message: string; status: 200 | 429; retryAfterSeconds?: number };

/** Checks a sign-in at the authorization endpoint: the login throttle first, then the password. */
export async function checkSignIn(
  server: Pick<OAuthServer, 'throttle' | 'users'>,
  key: { tenantId: string; email: string; address: string | undefined },
  password: string,
): Promise<SignInCheck> {
  if (server.throttle) {
    const decision = await server.throttle.checkLogin(key);
    if (!decision.allowed) {
      return {
        ok: false,
        status: 429,
        retryAfterSeconds: decision.retryAfterSeconds,
        message: `Too many attempts. Wait ${decision.retryAfterSeconds} seconds and try again.`,
      };
    }
  }
  const checked =
    key.email && password
      ? await server.users.verifyCredentials(key.tenantId, key.email, password)
      : { ok: false as const };
  if (!checked.ok) {
    const reason = 'reason' in checked ? checked.reason : undefined;
    if (reason === 'not_active' || reason === 'password_change_required' || reason === 'email_unverified') {
      await server.throttle?.recordRefused(key, reason);
    } else await server.throttle?.recordFailure(key);
    return {
      ok: false,
      status: 200,
      message:
        reason === 'not_active'
          ? 'Your account waits for approval.'
          : reason === 'email_unverified'
            ? 'Verify your email first: open the link Warden mailed you (signing in to Warden sends a new one).'
            : reason === 'password_change_required'
              ? 'Your password was reset by an administrator: choose a new one in Warden before signing in here.'
              : 'Wrong email or password.',
    };
  }
  await server.throttle?.recordSuccess(key);
  return { ok: true, userId: checked.user.id };
}

/** Starts the browser's sign-in session for the user (recorded for the audit); its cookie value is returned. */
export async function startSignInSession(
  server: OAuthServer,
  tenantId: string,
  userId: string,
  metadata: EventMetadata,
): Promise<string> {
  const started = await server.browser.start(tenantId, userId);
  await server.record(
    browserSessionStreamId(tenantId, userId),
    'OAuthUserSignedIn',
    { tenantId, userId, sid: started.session.sid, at: server.clock().toISOString() },
    metadata,
  );
  return started.cookie;
}

/** Ends a browser's sign-in session (recorded for the audit). */
export async function endSignInSession(
  server: OAuthServer,
  tenantId: string,
  session: { sid: string; userId: string },
  metadata: EventMetadata,
) {
  await server.browser.end(tenantId, session.sid);
  await server.record(
    browserSessionStreamId(tenantId, session.userId),
    'OAuthUserSignedOut',
    { tenantId, userId: session.userId, sid: session.sid, at: server.clock().toISOString() },
    metadata,
  );
}

/** True when the sign-in happened before the user's password changed (or an admin reset it). */
export function predatesCredentials(authTime: Date, user: Pick<OAuthUser, 'credentialsChangedAt'>): boolean {
  return user.credentialsChangedAt !== null && authTime.getTime() < Date.parse(user.credentialsChangedAt);
}

/**
 * The browser's sign-in session and its user, when both still count: the session is live, the user
 * active, and their password has not changed since the session signed in. A session outlived by a
 * password change is deleted here: whoever holds that cookie signs in again, with the new password.
 */
export async function signedIn(
  server: Pick<OAuthServer, 'browser' | 'users'>,
  tenantId: string,
  cookie: string | undefined,
): Promise<{ session: BrowserSession; user: OAuthUser } | undefined> {
  const session = await server.browser.find(tenantId, cookie);
  if (!session) return undefined;
  const user = await server.users.current(tenantId, session.userId);
  if (!user) return undefined;
  if (predatesCredentials(session.authTime, user)) {
    await server.browser.end(tenantId, session.sid);
    return undefined;
  }
  return { session, user };
}
