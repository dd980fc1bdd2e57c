import { z } from 'zod';

const bool = z
  .enum(['true', 'false', '1', '0', 'yes', 'no'])
  .transform((v) => v === 'true' || v === '1' || v === 'yes');
const int = (min: number, max: number) => z.coerce.number().int().min(min).max(max);
const url = (protocols: string[]) =>
  z.url().refine((u) => protocols.includes(new URL(u).protocol), {
    message: `must be a ${protocols.map((p) => p.replace(':', '://')).join(' or ')} URL`,
  });

/**
 * Every environment variable Warden reads, with its default and meaning. The README's configuration
 * table is this schema; nothing else in `src/` reads the environment.
 */
export const configSchema = z.object({
  PORT: int(0, 65535).default(3000).describe('HTTP port (0 picks a free one)'),
  HOST: z.string().min(1).default('127.0.0.1').describe('Interface to listen on (0.0.0.0 in containers)'),
  LOG_LEVEL: z
    .enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'])
    .default('info')
    .describe('pino log level'),
  DATABASE_URL: url(['postgres:', 'postgresql:'])
    .optional()
    .describe('PostgreSQL server for events and read models; embedded PGlite when unset'),
  DATABASE_POOL_SIZE: int(1, 200).default(10).describe('Connections in the PostgreSQL pool'),
  WARDEN_DATA_DIR: z
    .string()
    .min(1)
    .default('./data')
    .describe('PGlite data folder (when DATABASE_URL is unset)'),
  EVENTSTORE_URL: url(['esdb:', 'esdb+discover:', 'kurrentdb:', 'kurrentdb+discover:'])
    .optional()
    .describe('EventStoreDB/KurrentDB for events (read models stay in PostgreSQL/PGlite)'),
  WARDEN_BODY_LIMIT_BYTES: int(1024, 256 * 1024 * 1024)
    .default(1024 * 1024)
    .describe('Largest request body accepted (413 above)'),
  WARDEN_READ_WAIT_MS: int(0, 60_000)
    .default(5000)
    .describe('Longest a query with X-Min-Position waits for its read model'),
  WARDEN_READY_MAX_LAG: int(0, 100_000_000)
    .default(10_000)
    .describe('/ready fails when a projection is this many events behind (or has failed)'),
  WARDEN_WORKERS: bool.default(true).describe('Run projections and process managers inside `serve`'),
  WARDEN_WORKER_ID: z
    .string()
    .regex(/^[A-Za-z0-9._-]{1,100}$/)
    .optional()
    .describe('Stable worker id (e.g. the pod name) so a restarted worker resumes its partitions at once'),
  WARDEN_IDEMPOTENCY_TTL_HOURS: int(1, 24 * 30)
    .default(24)
    .describe('How long Idempotency-Key responses are kept'),
  WARDEN_SHUTDOWN_TIMEOUT_MS: int(0, 600_000)
    .default(15_000)
    .describe('Grace period for in-flight requests on SIGTERM'),
});

export type Config = z.infer<typeof configSchema>;

export class ConfigError extends Error {
  readonly code = 'ERR_CONFIG' as const;
  constructor(readonly problems: { variable: string; message: string }[]) {
    super(`invalid configuration:\n${problems.map((p) => `  ${p.variable}: ${p.message}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

/** Parses the environment once at start-up; names every bad variable instead of stopping at the first. */
export function loadConfig(env: Record<string, string | undefined>): Config {
  const known = Object.fromEntries(
    Object.keys(configSchema.shape).map((key) => [key, env[key] === '' ? undefined : env[key]]),
  );
  const parsed = configSchema.safeParse(known);
  if (parsed.success) return parsed.data;
  throw new ConfigError(
    parsed.error.issues.map((issue) => ({ variable: String(issue.path[0] ?? '?'), message: issue.message })),
  );
}

/** Rows for the README's configuration table. */
export function describeConfig(): { variable: string; default: string; description: string }[] {
  return Object.entries(configSchema.shape).map(([variable, schema]) => {
    const fallback = (schema as z.ZodType).safeParse(undefined);
    return {
      variable,
      default: fallback.success && fallback.data !== undefined ? String(fallback.data) : '—',
      description: (schema as z.ZodType).description ?? '',
    };
  });
}
