import type { Notifier } from '../../commands/identity/index.ts';

/** The part of a pino logger the log-only notifier writes through. */
export interface NotifierLog {
  warn(fields: Record<string, unknown>, message: string): void;
}

/**
 * The development notifier: nothing is sent, the link is written in the message of one log line
 * (`main` gives it a logger on stderr). That line is the only one that ever holds the link's secret:
 * its fields name the kind and recipient, and no other log line is given the link. Never use it in
 * production: whoever reads the logs could reset any password.
 */
export function logNotifier(log: NotifierLog): Notifier {
  return {
    async send(notification) {
      log.warn(
        { notifier: 'log', kind: notification.kind, to: notification.to },
        `${notification.subject} (not sent: set WARDEN_SMTP_URL): ${notification.link}`,
      );
    },
  };
}
