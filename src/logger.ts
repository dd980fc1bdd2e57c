import pino, { type Logger } from 'pino';

export type { Logger };

/** Paths never written to a log line, whatever a caller passes in. */
export const REDACTED_PATHS = [
  'password',
  '*.password',
  'token',
  '*.token',
  'access_token',
  '*.access_token',
  'refresh_token',
  '*.refresh_token',
  'client_secret',
  '*.client_secret',
  'secret',
  '*.secret',
  'passwordHash',
  '*.passwordHash',
  'headers.authorization',
  'headers.cookie',
  '*.headers.authorization',
  '*.headers.cookie',
  'config.WARDEN_ADMIN_PASSWORD',
  'config.DATABASE_URL',
  'config.EVENTSTORE_URL',
];

/** Structured JSON logs (pino) to stdout, or to `destination` (tests capture lines there). */
export function createLogger(level: string, destination?: { write(line: string): void }): Logger {
  const options = {
    level,
    base: { service: 'warden' },
    redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
  };
  return destination ? pino(options, destination) : pino(options);
}
