import type { Notifier } from '../../commands/identity/index.ts';

/** Where and as whom the SMTP adapter sends (WARDEN_SMTP_URL, WARDEN_MAIL_FROM). */
export interface SmtpNotifierConfig {
  /** `smtp://[user:pass@]host:port` (STARTTLS when the server offers it) or `smtps://` (TLS from the start). */
  url: string;
  from: string;
}

/**
 * The notifier port over SMTP with nodemailer. The transport is made on first use (nodemailer is
 * loaded then too, so a process that never sends mail never loads it), pooled, and reused.
 */
export function smtpNotifier(config: SmtpNotifierConfig): Notifier & { close(): Promise<void> } {
  let transport: Promise<import('nodemailer').Transporter> | undefined;
  const transporter = () => {
    transport ??= import('nodemailer').then((nodemailer) =>
      nodemailer.createTransport(config.url, { from: config.from }),
    );
    return transport;
  };
  return {
    async send(notification) {
      await (await transporter()).sendMail({
        to: notification.to,
        subject: notification.subject,
        text: notification.text,
      });
    },
    async close() {
      if (transport) (await transport).close();
    },
  };
}
