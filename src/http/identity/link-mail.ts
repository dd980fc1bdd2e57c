import type { Context } from 'hono';
import { type Notifier, requestEmailVerification } from '../../commands/identity/index.ts';
import type { EventStore } from '../../eventstore/port.ts';
import type { ResolvedTenant } from '../../identity/index.ts';
import type { Logger } from '../../logger.ts';
import type { AppEnv } from '../kit/index.ts';
import { commandContext } from '../kit/index.ts';

export interface LinkMailDeps {
  store: EventStore;
  notifier: Notifier;
  clock: () => Date;
  /** How long a reset link works (WARDEN_PASSWORD_RESET_TTL_MINUTES). */
  resetTtlSeconds: number;
  /** How long a verification link works (WARDEN_EMAIL_VERIFICATION_TTL_HOURS). */
  verificationTtlSeconds: number;
  /**
   * The origin links of tenants named by path or header start with (WARDEN_PUBLIC_URL, else
   * `http://localhost:<PORT>`): never the request's Host, which a stranger chooses (reset poisoning).
   */
  publicOrigin: string;
}

/** The tenant's base URL for links: its own host when it has one, else the public origin and `/t/<slug>`. */
export function tenantBaseUrl(c: Context<AppEnv>, tenant: ResolvedTenant, publicOrigin: string): string {
  // A custom domain or subdomain resolved this very tenant, so the Host is one of its own names.
  if (tenant.via === 'domain' || tenant.via === 'subdomain') return new URL(c.req.url).origin;
  return `${publicOrigin}/t/${tenant.slug}`;
}

/** A failed delivery is logged by its error's message only: never the link, the token or the mail. */
export function logLinkFailure(logger: Logger, what: string, error: unknown) {
  logger.error(
    { err: error instanceof Error ? error.message : String(error) },
    `${what}: the link could not be recorded or sent`,
  );
}

/**
 * The mails of the identity context: reset and verification links, each with its secret in the URL's
 * fragment (browsers never send it, so no access log on the way holds it).
 */
export function linkMail(deps: LinkMailDeps) {
  const minutes = (seconds: number) => Math.round(seconds / 60);
  const mailer = {
    base: (c: Context<AppEnv>, tenant: ResolvedTenant) => tenantBaseUrl(c, tenant, deps.publicOrigin),

    async sendReset(base: string, tenant: ResolvedTenant, to: string, token: string) {
      const link = `${base}/password/reset#token=${token}`;
      await deps.notifier.send({
        kind: 'password_reset',
        to,
        subject: `Reset your Warden password (${tenant.slug})`,
        link,
        text: [
          `A password reset was asked for your account in "${tenant.slug}".`,
          '',
          `Open this link within ${minutes(deps.resetTtlSeconds)} minutes to choose a new password (it works once):`,
          link,
          '',
          'If you did not ask for it, ignore this mail: your password stays as it is.',
        ].join('\n'),
      });
    },

    async sendVerification(base: string, tenant: ResolvedTenant, to: string, token: string) {
      const link = `${base}/email/verify#token=${token}`;
      await deps.notifier.send({
        kind: 'email_verification',
        to,
        subject: `Verify your email for Warden (${tenant.slug})`,
        link,
        text: [
          `Someone registered this email in "${tenant.slug}". If it was you, open this link within`,
          `${Math.round(deps.verificationTtlSeconds / 3600)} hours to verify it (it works once):`,
          link,
          '',
          'If it was not you, ignore this mail: the account cannot sign in without it.',
        ].join('\n'),
      });
    },

    /**
     * Records a new verification link for the user, then mails it after the answer has gone (one
     * append is all a new account adds to the answer's time, beside the registration's own); a
     * failed delivery is logged without the link.
     */
    async sendVerificationLink(
      c: Context<AppEnv>,
      tenant: ResolvedTenant,
      user: { id: string; email: string },
    ) {
      const base = mailer.base(c, tenant);
      const logger = c.get('logger')();
      const link = await requestEmailVerification(
        deps.store,
        {
          tenantId: tenant.id,
          userId: user.id,
          ttlSeconds: deps.verificationTtlSeconds,
          at: deps.clock().toISOString(),
        },
        commandContext(c, { tenantId: tenant.id, actorId: user.id }),
      );
      if (!link) return;
      void mailer
        .sendVerification(base, tenant, user.email, link.token)
        .catch((error: unknown) => logLinkFailure(logger, 'email verification', error));
    },
  };
  return mailer;
}

export type LinkMail = ReturnType<typeof linkMail>;
