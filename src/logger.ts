import pino, { type Logger } from 'pino';
import { prettyFactory } from 'pino-pretty';

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

/** How log lines look: one JSON object per line, or human-readable (pino-pretty). */
export type LogFormat = 'json' | 'pretty';

/**
 * `LOG_FORMAT=auto` is pretty on a terminal and JSON otherwise (a container's log collector, a pipe);
 * `json` and `pretty` force it.
 */
export function logFormatFor(setting: 'auto' | LogFormat, stdoutIsTerminal: boolean): LogFormat {
  return setting === 'auto' ? (stdoutIsTerminal ? 'pretty' : 'json') : setting;
}

interface LineSink {
  write(line: string): void;
}

/**
 * Human-readable lines: pino writes (and redacts) the JSON line first, then pino-pretty formats it in
 * the same thread, so what is hidden in JSON is hidden here too.
 */
function prettySink(out: LineSink, colorize: boolean): LineSink {
  const format = prettyFactory({ colorize, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname,service' });
  return { write: (line) => out.write(format(line)) };
}

/**
 * Structured logs (pino) to stdout, or to `destination` (tests capture lines there): JSON, or
 * human-readable with `format: 'pretty'` (in colour when `colorize`: stdout is a terminal).
 */
export function createLogger(
  level: string,
  destination?: LineSink,
  format: LogFormat = 'json',
  colorize = false,
): Logger {
  const options = {
    level,
    base: { service: 'warden' },
    redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
  };
  if (format === 'pretty') {
    return pino(options, prettySink(destination ?? pino.destination(1), colorize));
  }
  return destination ? pino(options, destination) : pino(options);
}

/**
 * A logger writing where `logger` writes, with its base fields, for lines built only of fields that no
 * `REDACTED_PATHS` entry names (the access line: request id, method, path, status, duration). pino
 * runs its redaction over every line's object, and with wildcard paths that pass is most of a line's
 * cost (about 12 µs of a request's, one line each at the default level); for such a line it can
 * change nothing. It logs whatever it is given: the caller asks `logger` whether the level is on.
 */
export function unredactedSibling(logger: Logger): Logger {
  const destination = (logger as unknown as Record<symbol, pino.DestinationStream>)[pino.symbols.streamSym];
  return pino({ level: 'trace', base: logger.bindings() }, destination);
}
