import type { Notifier } from '../../commands/identity/index.ts';
import type { Config } from '../../config.ts';
import { logNotifier, type NotifierLog } from './log.ts';
import { smtpNotifier } from './smtp.ts';

export { logNotifier, type NotifierLog } from './log.ts';
export { type SmtpNotifierConfig, smtpNotifier } from './smtp.ts';

/** The notifier configuration chooses: SMTP when WARDEN_SMTP_URL is set, else the log-only one on `devLog`. */
export function notifierFromConfig(
  config: Pick<Config, 'WARDEN_SMTP_URL' | 'WARDEN_MAIL_FROM'>,
  devLog: NotifierLog,
): Notifier {
  return config.WARDEN_SMTP_URL
    ? smtpNotifier({ url: config.WARDEN_SMTP_URL, from: config.WARDEN_MAIL_FROM })
    : logNotifier(devLog);
}
