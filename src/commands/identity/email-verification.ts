import type { CommandContext, CommandResult, CommandStore } from '../kernel/index.ts';
import { isDomainError } from '../kernel/index.ts';
import { changeUser } from './handle.ts';
import { newLinkSecret, parseResetToken, resetTokenHash } from './passwords.ts';
import { type UserState, verificationTokenInvalid } from './user.ts';

/**
 * Records a verification link for an unverified user and answers its token (`<userId>.<secret>`,
 * for the mail only), or undefined when the user is verified already. A newer link supersedes an older one.
 */
export async function requestEmailVerification(
  store: CommandStore,
  input: { tenantId: string; userId: string; ttlSeconds: number; at: string },
  context: CommandContext,
): Promise<{ token: string; expiresAt: string } | undefined> {
  const secret = newLinkSecret();
  const expiresAt = new Date(Date.parse(input.at) + input.ttlSeconds * 1000).toISOString();
  const result = await changeUser(
    store,
    input.tenantId,
    input.userId,
    { type: 'RequestEmailVerification', tokenHash: await resetTokenHash(secret), expiresAt, at: input.at },
    context,
  );
  return result.events.length === 0 ? undefined : { token: `${input.userId}.${secret}`, expiresAt };
}

/**
 * Verifies a user's email with the token of their link: refused (rule `verification_token_invalid`,
 * nothing appended) when malformed, of another tenant, unknown, used, superseded or expired.
 */
export async function verifyEmail(
  store: CommandStore,
  input: { tenantId: string; token: string; at: string },
  context: CommandContext,
): Promise<CommandResult<UserState>> {
  const parsed = parseResetToken(input.token);
  if (!parsed) throw verificationTokenInvalid('it is malformed');
  try {
    return await changeUser(
      store,
      input.tenantId,
      parsed.userId,
      { type: 'VerifyEmail', tokenHash: await resetTokenHash(parsed.secret), at: input.at },
      { ...context, metadata: { ...context.metadata, actorId: parsed.userId } },
    );
  } catch (error) {
    if (isDomainError(error) && (error.code === 'NOT_FOUND' || error.code === 'CONFLICT')) {
      throw verificationTokenInvalid('it is unknown or already used');
    }
    throw error;
  }
}
