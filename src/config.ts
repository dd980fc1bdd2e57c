import { isIP } from 'node:net';
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
 * What no tool run reaches by default: this host's loopback, `0.0.0.0/8` and `::/96` (the unspecified
 * and IPv4-compatible addresses, `::1` among them), link-local (169.254.169.254 and fe80::/10: the
 * cloud metadata services), and Alibaba's and AWS's other metadata addresses. IPv4-mapped IPv6
 * addresses (`::ffff:127.0.0.1`) meet the IPv4 blocks.
 */
const DENIED_TARGETS =
  '127.0.0.0/8,0.0.0.0/8,169.254.0.0/16,100.100.100.200/32,::/96,fe80::/10,fd00:ec2::254/128';

/** `10.0.0.0/8`, `fe80::/10` or a single address. */
function addressOrBlock(entry: string): boolean {
  const [address = '', bits, ...rest] = entry.split('/');
  const family = isIP(address);
  if (family === 0 || rest.length > 0) return false;
  return bits === undefined || (/^\d{1,3}$/.test(bits) && Number(bits) <= (family === 4 ? 32 : 128));
}

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
  LOG_FORMAT: z
    .enum(['auto', 'json', 'pretty'])
    .default('auto')
    .describe(
      'Log lines: `auto` is human-readable (pino-pretty) on a terminal and JSON otherwise; `json` or `pretty` forces one',
    ),
  DATABASE_URL: url(['postgres:', 'postgresql:'])
    .optional()
    .describe('PostgreSQL server for events and read models; embedded PGlite when unset'),
  DATABASE_POOL_SIZE: int(1, 200).default(10).describe('Connections in the PostgreSQL pool'),
  WARDEN_DATA_DIR: z
    .string()
    .min(1)
    .default('./data')
    .describe('PGlite data folder (when DATABASE_URL is unset)'),
  WARDEN_PGLITE_UPKEEP_MS: int(0, 86_400_000)
    .refine(
      (ms) => ms === 0 || ms >= 100,
      'at least 100 ms (a pass reads every table’s statistics), or 0 for never',
    )
    .default(60_000)
    .describe(
      "How often `serve` on PGlite vacuums and analyzes the tables past autovacuum's thresholds, as a PostgreSQL server's autovacuum would (PGlite runs none); 0: never",
    ),
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
  WARDEN_PROJECTION_PAGE_SIZE: int(1, 10_000)
    .default(1000)
    .describe(
      'Events a live projection reads and commits per transaction (with its checkpoint) while catching up',
    ),
  WARDEN_WORKERS: bool.default(true).describe('Run projections and process managers inside `serve`'),
  WARDEN_WORKER_HEALTH_PORT: int(0, 65535)
    .optional()
    .describe(
      '`warden worker` serves /health (alive) and /ready (database reachable, partitions claimed) on this port (HOST); none when unset',
    ),
  WARDEN_WORKER_HEAP_GROWTH_PERCENT: int(0, 400)
    .default(50)
    .describe(
      "`warden worker`: how far its JavaScript heap may grow past what the last full garbage collection kept before the next one, in percent (0: V8's own choice, up to 300 on a large machine); lower holds memory down for more frequent full collections",
    ),
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
  WARDEN_CORS_ORIGINS: z
    .string()
    .optional()
    .describe('Comma-separated origins browsers may call the API from (empty: no CORS headers)'),
  WARDEN_REQUEST_TIMEOUT_MS: int(0, 600_000)
    .default(30_000)
    .describe('A handler still running after this answers 503 (0: no limit); a streamed body flows on'),
  WARDEN_BASE_DOMAIN: z
    .string()
    .regex(/^[a-z0-9.-]*$/, 'must be a lowercase domain name')
    .default('localhost')
    .describe('Subdomains `<slug>.<base domain>` name a tenant'),
  WARDEN_TENANT_CACHE_TTL_MS: int(0, 600_000)
    .default(60_000)
    .describe(
      'How long a process reuses a tenant lookup at most (0: never); a suspension, deletion, plan or limits change reaches every process within WARDEN_REVOCATION_SYNC_MS of the tenant list showing it all the same, a custom domain change within 5 s',
    ),
  WARDEN_TRUSTED_PROXY_HOPS: int(0, 10)
    .default(0)
    .describe(
      'Proxies in front of Warden; the client address (X-Forwarded-For) and scheme (X-Forwarded-Proto) are read that many hops back',
    ),
  WARDEN_TOOL_DENIED_TARGETS: z
    .string()
    .default(DENIED_TARGETS)
    .transform((list) => (list.trim() === 'none' ? [] : list.split(',').map((entry) => entry.trim())))
    .pipe(z.array(z.string().refine(addressOrBlock, 'each entry must be an IP address or a CIDR block')))
    .describe(
      'Addresses no tool run may reach, whatever a tenant allowlists (comma-separated CIDRs or addresses; `none`: nothing denied): by default this host’s loopback, the unspecified and IPv4-compatible addresses, link-local (cloud metadata services) and the Alibaba and AWS IPv6 metadata addresses. Add private ranges when the tools must not scan the platform’s own network',
    ),
  WARDEN_ANON_RATE_PER_MINUTE: int(1, 100_000_000)
    .default(300)
    .describe(
      "API requests per minute per client address without valid credentials (never spends a tenant's budget)",
    ),
  WARDEN_ADMIN_EMAIL: z
    .email()
    .default('admin@warden.local')
    .describe('First start: the platform superadmin and owner of tenant `default`'),
  WARDEN_ADMIN_PASSWORD: z
    .string()
    .min(8)
    .max(256)
    .optional()
    .describe("First start: that user's password; when unset a generated one is printed once"),
  WARDEN_DEFAULT_SIGNUP_POLICY: z
    .enum(['open', 'approval', 'closed'])
    .default('approval')
    .describe('Sign-up policy of a tenant that never set one'),
  WARDEN_ARGON2_MEMORY_KIB: int(1024, 4 * 1024 * 1024)
    .default(19_456)
    .describe('argon2id memory per hash (OWASP: 19 MiB); changing it rehashes at next login'),
  WARDEN_ARGON2_TIME_COST: int(1, 100).default(2).describe('argon2id iterations (OWASP: 2)'),
  WARDEN_ARGON2_PARALLELISM: int(1, 16).default(1).describe('argon2id lanes (OWASP: 1)'),
  WARDEN_ARGON2_CONCURRENCY: int(1, 64)
    .default(2)
    .describe(
      "argon2id hashes computed at once (the rest wait in line); keep it below libuv's threadpool size (`UV_THREADPOOL_SIZE`, 4 by default) so signatures, file and DNS work never wait behind hashes",
    ),
  WARDEN_LOGIN_MAX_ATTEMPTS_PER_ACCOUNT: int(1, 10_000)
    .default(10)
    .describe('Login attempts per account per window (then 429)'),
  WARDEN_LOGIN_MAX_ATTEMPTS_PER_ADDRESS: int(1, 1_000_000)
    .default(100)
    .describe('Login attempts per client address per window, over all accounts'),
  WARDEN_LOGIN_WINDOW_SECONDS: int(1, 86_400).default(900).describe('Login throttling window'),
  WARDEN_LOGIN_FREE_FAILURES: int(0, 1000)
    .default(3)
    .describe('Failed logins of an account before backoff starts'),
  WARDEN_LOGIN_BACKOFF_BASE_MS: int(0, 3_600_000)
    .default(1000)
    .describe('First backoff after the free failures; doubles per failure'),
  WARDEN_LOGIN_BACKOFF_MAX_MS: int(0, 86_400_000).default(60_000).describe('Longest login backoff'),
  WARDEN_KEY_ENCRYPTION_KEY: z
    .string()
    .regex(/^[A-Za-z0-9_-]{43}$/, 'must be 32 bytes in base64url (43 characters)')
    .optional()
    .describe(
      'Seals signing keys (Warden’s and each tenant issuer’s) and personal-data keys at rest; when unset one is generated into the data folder (dev only)',
    ),
  WARDEN_TOKEN_ISSUER: z.string().min(1).default('warden').describe('`iss` of access tokens'),
  WARDEN_TOKEN_AUDIENCE: z.string().min(1).default('warden-api').describe('`aud` of access tokens'),
  WARDEN_ACCESS_TOKEN_TTL_SECONDS: int(60, 86_400).default(900).describe('Access token lifetime'),
  WARDEN_REFRESH_TOKEN_TTL_DAYS: int(1, 365)
    .default(30)
    .describe('Absolute lifetime of a sign-in (refresh-token family)'),
  WARDEN_REFRESH_IDLE_TTL_DAYS: int(1, 365).default(7).describe('A refresh token unused this long expires'),
  WARDEN_REFRESH_GRACE_SECONDS: int(0, 300)
    .default(10)
    .describe(
      'The immediate predecessor of a refresh token may be replayed this long (concurrent refreshes)',
    ),
  WARDEN_REVOCATION_SYNC_MS: int(0, 60_000)
    .default(1000)
    .describe(
      'A logout, a revoked sign-in, or a narrowed or deleted OAuth client reaches the other processes within this (this one at once)',
    ),
  WARDEN_JWKS_CACHE_SECONDS: int(1, 86_400)
    .default(300)
    .describe('JWKS max-age and key cache; a new key is published this long before it signs'),
  WARDEN_PUBLIC_URL: url(['http:', 'https:'])
    .optional()
    .describe(
      'Origin clients reach Warden at (behind a proxy); OAuth issuers of /t/<slug> tenants use it instead of the request Host',
    ),
  WARDEN_PASSWORD_RESET_TTL_MINUTES: int(1, 24 * 60)
    .default(30)
    .describe('How long a password reset link works (single use)'),
  WARDEN_TENANT_SIGNUP: z
    .enum(['closed', 'open', 'approval'])
    .default('closed')
    .describe(
      'Self-service tenant sign-up (POST /v1/signup): closed, open to anyone (free plan, owner verifies the email), or approval (the tenant waits suspended until the superadmin reactivates it)',
    ),
  WARDEN_EMAIL_VERIFICATION_TTL_HOURS: int(1, 24 * 30)
    .default(24)
    .describe('How long an email verification link works (a sign-in of the unverified user sends a new one)'),
  WARDEN_SMTP_URL: url(['smtp:', 'smtps:'])
    .optional()
    .describe(
      'Mail server for reset and verification links (smtp://user:pass@host:587, smtps:// for TLS); unset: links are logged to stderr (development)',
    ),
  WARDEN_MAIL_FROM: z
    .string()
    .min(3)
    .max(320)
    .default('Warden <warden@warden.local>')
    .describe('Sender of the mails Warden sends'),
  WARDEN_OAUTH_ACCESS_TOKEN_TTL_SECONDS: int(30, 86_400)
    .default(600)
    .describe('Lifetime of access tokens issued to OAuth clients'),
  WARDEN_OAUTH_ID_TOKEN_TTL_SECONDS: int(30, 86_400).default(300).describe('Lifetime of OIDC ID tokens'),
  WARDEN_OAUTH_CODE_TTL_SECONDS: int(5, 600)
    .default(60)
    .describe('Lifetime of an authorization code (single use; a second use revokes its tokens)'),
  WARDEN_OAUTH_PAR_TTL_SECONDS: int(5, 600)
    .default(60)
    .describe('Lifetime of a pushed authorization request (RFC 9126 request_uri)'),
  WARDEN_OAUTH_SESSION_TTL_HOURS: int(1, 24 * 30)
    .default(12)
    .describe("Single sign-on: how long the authorization server's sign-in cookie lasts"),
  WARDEN_OAUTH_TOKEN_RATE_PER_CLIENT: int(1, 100_000_000)
    .default(1200)
    .describe('Token-endpoint requests per minute per OAuth client (then 429)'),
  WARDEN_OAUTH_TOKEN_RATE_PER_ADDRESS: int(1, 100_000_000)
    .default(3000)
    .describe('Token-endpoint requests per minute per client address, over all clients'),
  WARDEN_OAUTH_CACHE_TENANTS: int(10, 1_000_000)
    .default(1000)
    .describe('Tenants whose issuer keys a process keeps in memory (least recently used go first)'),
  WARDEN_OAUTH_CLIENT_CACHE_MS: int(0, 600_000)
    .default(60_000)
    .describe(
      'How long a process reuses a client it read at most (0: never); a change to the client reaches every process within WARDEN_REVOCATION_SYNC_MS all the same',
    ),
  WARDEN_USER_CACHE_MS: int(0, 600_000)
    .default(60_000)
    .describe(
      'How long a process reuses a user it read for GET /v1/me at most (0: never); a change to the user reaches every process within WARDEN_REVOCATION_SYNC_MS all the same',
    ),
  WARDEN_UPSTREAM_REGISTRY: url(['http:', 'https:'])
    .optional()
    .describe(
      'Where packages are downloaded from, by name (never from a lockfile’s `resolved` URL); unset: packages wait (`no_upstream`)',
    ),
  WARDEN_UPSTREAM_TOKEN: z
    .string()
    .min(1)
    .optional()
    .describe('Bearer token for the upstream registry, if it needs one'),
  WARDEN_TARGET_REGISTRY: url(['http:', 'https:'])
    .optional()
    .describe('The secure registry approved packages are published to (unset: approved packages wait)'),
  WARDEN_TARGET_REGISTRY_TOKEN: z
    .string()
    .min(1)
    .optional()
    .describe('Token with publish rights on the secure registry (never logged, never in events)'),
  WARDEN_REGISTRY_TIMEOUT_MS: int(100, 600_000)
    .default(30_000)
    .describe('A registry request (packument, tarball, publish) slower than this is retried later'),
  WARDEN_MAX_TARBALL_BYTES: int(1024, 2_000_000_000)
    .default(100 * 1024 * 1024)
    .describe('Largest package tarball downloaded'),
  WARDEN_MAX_UNPACKED_BYTES: int(1024, 10_000_000_000)
    .default(500 * 1024 * 1024)
    .describe('Largest unpacked package (tar bombs stop here)'),
  WARDEN_PACKAGE_CONCURRENCY: int(1, 256)
    .default(16)
    .describe('Packages checked and downloaded at once per worker'),
  WARDEN_PUBLISH_CONCURRENCY: int(1, 64)
    .default(8)
    .describe(
      'Packages published to the secure registry at once per worker (each is a read and an upload; 409s from a busy registry are retried)',
    ),
  WARDEN_PACKAGE_MAX_ATTEMPTS: int(1, 100)
    .default(5)
    .describe('Attempts of a stage after transient failures (network, registry 5xx) before it is failed'),
  WARDEN_LOCKFILE_LIMIT_BYTES: int(1024, 1024 * 1024 * 1024)
    .default(32 * 1024 * 1024)
    .describe(
      'Largest lockfile (package-lock.json, pnpm-lock.yaml or yarn.lock) accepted by POST /v1/package-requests (413 above)',
    ),
  WARDEN_METRICS_TOKEN: z
    .string()
    .min(16)
    .optional()
    .describe(
      'When set, /metrics answers only requests with this bearer token (else anyone who reaches the port)',
    ),
  WARDEN_WORKSPACE_DOMAIN: z
    .string()
    .regex(/^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$/, 'must be a lowercase domain name')
    .default('workspaces.localhost')
    .describe(
      'Each workspace is also served by nginx at `<user id>.<this domain>` (besides `/u/<user id>/`)',
    ),
  WARDEN_NGINX_CONFIG: z
    .string()
    .min(1)
    .optional()
    .describe(
      'The routes file the workspace nginx includes inside `http { }`; Warden rewrites it from the routes read model and reloads nginx (unset: no routing from this process)',
    ),
  WARDEN_NGINX_COMMAND: z
    .string()
    .regex(/^\S+( \S+)*$/, 'a command and its arguments, separated by single spaces')
    .default('nginx')
    .describe(
      'The command that runs that nginx, with its `-p`/`-c` if any; Warden adds `-t` to check a render and `-s reload` to apply it',
    ),
  WARDEN_NGINX_PID_FILE: z
    .string()
    .regex(/^\/\S+$/, 'an absolute path')
    .optional()
    .describe(
      "That nginx's pid file: set, Warden reloads it with a SIGHUP to the pid there instead of running `-s reload` (which parses the whole configuration once more first)",
    ),
  WARDEN_NGINX_ACCESS_LOG: z
    .string()
    .regex(/^\/[A-Za-z0-9._/-]+$/, 'an absolute path of letters, digits, `.`, `_`, `-` and `/`')
    .optional()
    .describe(
      'Where the rendered nginx configuration logs each workspace request as a JSON line; this process reads it into per-workspace traffic (unset: no traffic)',
    ),
  WARDEN_UPLOAD_EXPIRY_MS: int(0, 2_592_000_000)
    .default(86_400_000)
    .describe(
      'An unfinished upload with no progress (no byte reaching the agent) for this long (default 24 h) expires: recorded, its partial file deleted, HEAD/PATCH answer 410, announced in `Upload-Expires` (0: never)',
    ),
  WARDEN_OUTPUT_RETENTION_DAYS: int(0, 36_500)
    .default(90)
    .describe(
      'A run’s output (a tool execution’s, an image build’s or a push’s lines) is kept this many days after the run began (default 90); then its lines go, its final status stays and one `{"expired":true,…}` status frame says why (0: kept for ever)',
    ),
  WARDEN_IMAGE_CONTEXT_MAX_BYTES: int(1024, 4_294_967_296)
    .default(1_073_741_824)
    .describe(
      'The largest image build context (`POST /v1/images/builds`) taken, default 1 GiB; it streams through to the building agent, never held whole, and a larger one is cut off with 413',
    ),
  WARDEN_TRAFFIC_INGEST_MS: int(100, 3_600_000)
    .default(10_000)
    .describe('How often the workspace access log is read into per-minute traffic'),
  WARDEN_NGINX_LISTEN: z
    .string()
    .regex(/^([0-9.]+:)?[0-9]{1,5}$/, 'a port or address:port')
    .default('80')
    .describe('The `listen` of the rendered workspace servers (e.g. `127.0.0.1:8080`)'),
  WARDEN_WORKSPACE_ACCESS_URL: z
    .string()
    .regex(
      /^https?:\/\/(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+)(:[0-9]{1,5})?$/,
      'an origin (scheme, host and port, no path), e.g. http://127.0.0.1:3000',
    )
    .optional()
    .describe(
      "Where the workspace nginx reaches Warden's API to check each request's workspace session (`auth_request`) and to let a browser in with a ticket; default `http://127.0.0.1:<PORT>` (required when `PORT` is 0)",
    ),
  WARDEN_WORKSPACE_PATH_ROUTES: bool
    .default(true)
    .describe(
      'Also serve each workspace at `/u/<user id>/` on the nginx default server; every path route shares one origin, so with untrusted users set it to false and serve workspaces by host only',
    ),
  WARDEN_WORKSPACE_SESSION_TTL_SECONDS: int(60, 2_592_000)
    .default(28_800)
    .describe(
      'How long a browser session into a workspace lasts once its one-time ticket is used (default 8 h)',
    ),
  WARDEN_NGINX_SYNC_MS: int(100, 600_000)
    .default(1000)
    .describe(
      'How often the routes read model is compared with the nginx routes file besides each change the routes projections announce (this catches what a lost listening connection missed)',
    ),
  WARDEN_AGENT_HEARTBEAT_MS: int(100, 600_000)
    .default(10_000)
    .describe('How often each workspace agent is asked for its health (by one process of the cluster)'),
  WARDEN_AGENT_SILENCE_MS: int(500, 86_400_000)
    .default(60_000)
    .describe(
      'An agent silent this long is lost: its workspaces become unavailable (a 503 page) and are recreated on another agent',
    ),
  WARDEN_AGENT_STATS_TIMEOUT_MS: int(50, 60_000)
    .default(2_000)
    .describe(
      'How long `GET /v1/agents/{id}/stats` and `?with=stats` wait for one agent; a slower one is `unreachable`',
    ),
  WARDEN_AGENT_STATS_TTL_MS: int(0, 3_600_000)
    .default(10_000)
    .describe('How long an agent’s statistics (or its silence) are reused by the API; 0 asks every time'),
  WARDEN_AGENT_STATS_SAMPLE_MS: int(1000, 3_600_000)
    .default(60_000)
    .describe('How often one process of the cluster samples every agent for the day of stats history'),
  WARDEN_RECONCILE_INTERVAL_MS: int(1000, 86_400_000)
    .default(60_000)
    .describe(
      'How often the agents’ containers are compared with the workspaces (one process of the cluster)',
    ),
  WARDEN_ORPHAN_GRACE_MS: int(0, 604_800_000)
    .default(600_000)
    .describe('A container no workspace owns is only reported for this long, then removed'),
  WARDEN_OSV_PATH: z
    .string()
    .min(1)
    .optional()
    .describe(
      'OSV advisory data (a folder or a .zip of OSV JSON) imported at start; `warden osv import` imports more',
    ),
  WARDEN_OSV_URL: url(['http:', 'https:'])
    .optional()
    .describe(
      'An OSV export zip downloaded on a schedule by one process of the cluster (conditional requests: an unchanged feed is a 304) and imported like `WARDEN_OSV_PATH`',
    ),
  WARDEN_OSV_SYNC_INTERVAL_MS: int(1000, 604_800_000)
    .default(3_600_000)
    .describe('How often the `WARDEN_OSV_URL` feed is asked for a newer archive'),
  WARDEN_OSV_TIMEOUT_MS: int(1000, 3_600_000)
    .default(600_000)
    .describe('Longest one feed download may take before it is abandoned (the previous data stays)'),
  WARDEN_OSV_MAX_DOWNLOAD_BYTES: int(1024, 2 ** 40)
    .default(2 * 1024 ** 3)
    .describe('Largest feed archive accepted; a bigger download is abandoned'),
  WARDEN_OSV_MAX_ENTRY_BYTES: int(1024, 1024 ** 3)
    .default(8 * 1024 * 1024)
    .describe(
      'Largest single OSV record in an archive, once inflated; an archive with a bigger one is refused whole',
    ),
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
