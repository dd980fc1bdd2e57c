import type { CommandContext, CommandResult, CommandStore } from '../kernel/index.ts';
import { isDomainError } from '../kernel/index.ts';
import { changeUser, findUser } from './handle.ts';
import type { PasswordHasher } from './ports.ts';
import { resetTokenInvalid, type UserState } from './user.ts';

// Passwords of existing users: changed by their holder, reset through a single-use link, or set to a
// temporary one by an admin. Every change is an event on the user's stream carrying the new argon2
// hash (sealed with the user's personal-data key like the registration's); no event carries a
// password or a reset secret, only the secret's SHA-256.

const base64url = (bytes: Uint8Array) =>
  btoa(String.fromCharCode(...bytes))
    .replaceAll('+', '-')
    .replaceAll('/', '_')
    .replace(/=+$/, '');

/** SHA-256 of a reset secret, hex: what `PasswordResetRequested` stores and `ResetPassword` compares. */
export async function resetTokenHash(secret: string): Promise<string> {
  const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(secret));
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, '0')).join('');
}

/** 256 random bits, base64url: the secret of a reset or verification link. */
export const newLinkSecret = () => base64url(crypto.getRandomValues(new Uint8Array(32)));

/** A reset token: the user's id (which stream to load) and 256 random bits, `<userId>.<secret>`. */
const RESET_TOKEN = /^([0-9a-f-]{36})\.([A-Za-z0-9_-]{43})$/;

/** The user id and secret of a reset token, or undefined when it is not shaped like one. */
export function parseResetToken(token: string): { userId: string; secret: string } | undefined {
  const match = RESET_TOKEN.exec(token);
  return match?.[1] && match[2] ? { userId: match[1], secret: match[2] } : undefined;
}

/** A temporary password: 18 random bytes, base64url (24 characters, never on a common-password list). */
export function temporaryPassword(): string {
  return base64url(crypto.getRandomValues(new Uint8Array(18)));
}

/**
 * Changes the password of a live user who proved the current one. Answers `wrong_password` (nothing
 * appended) when `currentPassword` does not verify; the caller counts that as a failed sign-in.
 */
export async function changeOwnPassword(
  store: CommandStore,
  hasher: PasswordHasher,
  input: { tenantId: string; userId: string; currentPassword: string; newPassword: string; at: string },
  context: CommandContext,
): Promise<{ ok: true; result: CommandResult<UserState> } | { ok: false; reason: 'wrong_password' }> {
  const found = await findUser(store, input.tenantId, input.userId);
  const verified = found ? await hasher.verify(found.state.passwordHash, input.currentPassword) : false;
  if (!verified) return { ok: false, reason: 'wrong_password' };
  const passwordHash = await hasher.hash(input.newPassword);
  const result = await changeUser(
    store,
    input.tenantId,
    input.userId,
    { type: 'ChangePassword', passwordHash, at: input.at },
    context,
  );
  return { ok: true, result };
}

/**
 * Records a reset link for a live user and answers its token (the one place it exists besides the
 * mail). A newer link supersedes an older one. `forced` (an admin's reset): until a new password is
 * chosen, the old one signs in only to choose it.
 */
export async function requestPasswordReset(
  store: CommandStore,
  input: {
    tenantId: string;
    userId: string;
    by: string;
    forced: boolean;
    actorIsOwner: boolean;
    ttlSeconds: number;
    at: string;
  },
  context: CommandContext,
): Promise<{ token: string; expiresAt: string; result: CommandResult<UserState> }> {
  const secret = newLinkSecret();
  const expiresAt = new Date(Date.parse(input.at) + input.ttlSeconds * 1000).toISOString();
  const result = await changeUser(
    store,
    input.tenantId,
    input.userId,
    {
      type: 'RequestPasswordReset',
      tokenHash: await resetTokenHash(secret),
      expiresAt,
      by: input.by,
      forced: input.forced,
      actorIsOwner: input.actorIsOwner,
      at: input.at,
    },
    context,
  );
  return { token: `${input.userId}.${secret}`, expiresAt, result };
}

/**
 * Sets a new password with a reset token: refused (rule `reset_token_invalid`, nothing appended) when
 * the token is malformed, of another tenant, unknown, used, superseded or expired. The user stream's
 * expected revision makes the token single-use under concurrency too. The new password is hashed
 * before the check, so a valid and an invalid token cost the same work.
 */
export async function resetPasswordWithToken(
  store: CommandStore,
  hasher: PasswordHasher,
  input: { tenantId: string; token: string; newPassword: string; at: string },
  context: CommandContext,
): Promise<CommandResult<UserState>> {
  const passwordHash = await hasher.hash(input.newPassword);
  const parsed = parseResetToken(input.token);
  if (!parsed) throw resetTokenInvalid('it is malformed');
  try {
    return await changeUser(
      store,
      input.tenantId,
      parsed.userId,
      { type: 'ResetPassword', tokenHash: await resetTokenHash(parsed.secret), passwordHash, at: input.at },
      { ...context, metadata: { ...context.metadata, actorId: parsed.userId } },
    );
  } catch (error) {
    // Another tenant's user, a removed one, or a lost race for the same token: all "not valid".
    if (isDomainError(error) && (error.code === 'NOT_FOUND' || error.code === 'CONFLICT')) {
      throw resetTokenInvalid('it is unknown or already used');
    }
    throw error;
  }
}

/** An admin sets a temporary password for a live user and gets it (once); the user must change it. */
export async function setTemporaryPassword(
  store: CommandStore,
  hasher: PasswordHasher,
  input: { tenantId: string; userId: string; by: string; actorIsOwner: boolean; at: string },
  context: CommandContext,
): Promise<{ password: string; result: CommandResult<UserState> }> {
  const password = temporaryPassword();
  const result = await changeUser(
    store,
    input.tenantId,
    input.userId,
    {
      type: 'SetTemporaryPassword',
      passwordHash: await hasher.hash(password),
      by: input.by,
      actorIsOwner: input.actorIsOwner,
      at: input.at,
    },
    context,
  );
  return { password, result };
}
