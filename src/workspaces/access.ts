import { type Kysely, sql } from 'kysely';
import { sha256Hex } from '../crypto/digest.ts';
import { randomToken } from '../identity/index.ts';
import { loadingCache } from '../runtime/cache.ts';

export interface WorkspaceAccessTable {
  secret_hash: string;
  kind: 'ticket' | 'session';
  tenant_id: string;
  workspace_id: string;
  user_id: string;
  expires_at: Date;
  created_at: Date;
}

type Tables = { warden_workspace_access: WorkspaceAccessTable };

/** How long an entry ticket may wait to be used: it goes from an API answer straight into a browser. */
export const TICKET_TTL_MS = 60_000;
/** How long a session's positive check is reused in this process before the table is asked again. */
const CHECK_CACHE_MS = 5_000;

/** The shape of a ticket or a session: 256 random bits in base64url ({@link randomToken}). */
export const SECRET_SHAPE = /^[A-Za-z0-9_-]{43}$/;

/** The cookie a workspace session lives in (HttpOnly, scoped to the workspace's path or host). */
export const WORKSPACE_COOKIE = 'warden_workspace';

export interface WorkspaceGrant {
  tenantId: string;
  workspaceId: string;
  userId: string;
}

export interface WorkspaceAccessOptions {
  db: Kysely<unknown>;
  clock: () => Date;
  /** How long a browser session lasts once a ticket is used (`WARDEN_WORKSPACE_SESSION_TTL_SECONDS`). */
  sessionTtlMs: number;
  /**
   * Whether the user may still use the workspace with a ticket or session made at `since`: an active
   * user of an active (not suspended) tenant, whose password has not changed (or been reset) since.
   */
  mayEnter: (tenantId: string, userId: string, since: Date) => Promise<boolean>;
}

/**
 * Who may reach a workspace through nginx. The API gives a workspace's own user a one-time ticket
 * (valid {@link TICKET_TTL_MS}); the browser takes it to the workspace's address, where it becomes a
 * session cookie bound to that workspace; nginx asks {@link WorkspaceAccess.check} before each request
 * (`auth_request`). Tickets and sessions are random 256-bit secrets, kept only as their SHA-256, so a
 * copy of the table opens nothing. Using a ticket deletes it in the same statement that reads it: two
 * browsers racing with one ticket get one session.
 */
export class WorkspaceAccess {
  readonly #db: Kysely<Tables>;
  readonly #checked;

  constructor(private readonly options: WorkspaceAccessOptions) {
    this.#db = options.db as Kysely<Tables>;
    this.#checked = loadingCache<string, { grant: WorkspaceGrant | false }>({
      max: 10_000,
      ttlMs: CHECK_CACHE_MS,
      clock: options.clock,
      load: async (key) => ({ grant: await this.#lookUp(key) }),
    });
  }

  /** A one-time ticket for the workspace's user, valid until `expiresAt` (now + {@link TICKET_TTL_MS}). */
  async ticket(grant: WorkspaceGrant, expiresAt: Date): Promise<string> {
    const ticket = randomToken();
    await this.#insert('ticket', ticket, grant, expiresAt);
    return ticket;
  }

  /**
   * Uses a ticket (once): the session it becomes, or undefined for a ticket that is unknown, used,
   * expired, or whose user may no longer use the workspace (see `mayEnter`).
   */
  async enter(ticket: string): Promise<(WorkspaceGrant & { session: string; expiresAt: Date }) | undefined> {
    const now = this.options.clock();
    const used = await sql<Omit<WorkspaceAccessTable, 'secret_hash' | 'kind'>>`
      delete from warden_workspace_access where secret_hash = ${sha256Hex(ticket)} and kind = 'ticket'
      returning tenant_id, workspace_id, user_id, expires_at, created_at`.execute(this.#db);
    const row = used.rows[0];
    if (!row || new Date(row.expires_at).getTime() <= now.getTime()) return undefined;
    const grant = { tenantId: row.tenant_id, workspaceId: row.workspace_id, userId: row.user_id };
    if (!(await this.options.mayEnter(grant.tenantId, grant.userId, new Date(row.created_at)))) {
      return undefined;
    }
    const session = randomToken();
    const expiresAt = new Date(now.getTime() + this.options.sessionTtlMs);
    await this.#insert('session', session, grant, expiresAt);
    return { ...grant, session, expiresAt };
  }

  /**
   * The grant of a session cookie for this workspace, or undefined: unknown, expired, for another
   * workspace, or its user or tenant no longer active. A positive answer is reused for 5 s in this process.
   */
  async check(session: string, workspaceId: string): Promise<WorkspaceGrant | undefined> {
    const key = `${sha256Hex(session)} ${workspaceId}`;
    const found = await this.#checked.fetch(key);
    if (!found?.grant) {
      // Only a grant is kept: a user or tenant active again is let in at once.
      this.#checked.delete(key);
      return undefined;
    }
    return found.grant;
  }

  /** Ends every ticket and session of a workspace (here at once; elsewhere within 5 s). */
  async revoke(workspaceId: string): Promise<number> {
    const removed = await this.#db
      .deleteFrom('warden_workspace_access')
      .where('workspace_id', '=', workspaceId)
      .executeTakeFirst();
    this.#checked.clear();
    return Number(removed.numDeletedRows);
  }

  /** Deletes what has expired (see {@link sweepWorkspaceAccess}). */
  sweep(): Promise<number> {
    return sweepWorkspaceAccess(this.options.db);
  }

  async #lookUp(key: string): Promise<WorkspaceGrant | false> {
    const [hash, workspaceId] = key.split(' ') as [string, string];
    const row = await this.#db
      .selectFrom('warden_workspace_access')
      .select(['tenant_id', 'workspace_id', 'user_id', 'expires_at', 'created_at'])
      .where('secret_hash', '=', hash)
      .where('kind', '=', 'session')
      .where('workspace_id', '=', workspaceId)
      .executeTakeFirst();
    if (!row || new Date(row.expires_at).getTime() <= this.options.clock().getTime()) return false;
    const grant = { tenantId: row.tenant_id, workspaceId: row.workspace_id, userId: row.user_id };
    return (await this.options.mayEnter(grant.tenantId, grant.userId, new Date(row.created_at)))
      ? grant
      : false;
  }

  async #insert(kind: 'ticket' | 'session', secret: string, grant: WorkspaceGrant, expiresAt: Date) {
    await this.#db
      .insertInto('warden_workspace_access')
      .values({
        secret_hash: sha256Hex(secret),
        kind,
        tenant_id: grant.tenantId,
        workspace_id: grant.workspaceId,
        user_id: grant.userId,
        expires_at: expiresAt,
        // The app's clock, as `mayEnter` compares it with the user's credential changes.
        created_at: this.options.clock(),
      } as never)
      .execute();
  }
}

/** Deletes expired tickets and sessions (the cleanup sweep); every check reads the expiry too. */
export async function sweepWorkspaceAccess(db: Kysely<unknown>): Promise<number> {
  const removed = await sql`delete from warden_workspace_access where expires_at < now()`.execute(db);
  return Number(removed.numAffectedRows ?? 0);
}

/**
 * Fetch Metadata (`Sec-Fetch-*`) resource isolation: a browser's request to a workspace is allowed
 * when it comes from the workspace's own pages (`same-origin`), from the user typing or opening a
 * bookmark (`none`), or is a top-level GET navigation from elsewhere (a link in Warden's UI). Any
 * other request another site (a neighbouring workspace on the same domain included) makes the browser
 * send with the session cookie is refused, so a workspace's pages cannot drive another's (CSRF). A
 * client that sends no `Sec-Fetch-Site` (curl, an old browser) is judged by its cookie alone.
 */
export function fetchAllowed(headers: {
  site: string | undefined;
  mode: string | undefined;
  dest: string | undefined;
  method: string | undefined;
}): boolean {
  const site = headers.site?.toLowerCase();
  if (site === undefined || site === 'same-origin' || site === 'none') return true;
  const method = (headers.method ?? 'GET').toUpperCase();
  return (
    headers.mode?.toLowerCase() === 'navigate' &&
    (method === 'GET' || method === 'HEAD') &&
    !['frame', 'iframe', 'embed', 'object'].includes(headers.dest?.toLowerCase() ?? '')
  );
}

/**
 * Where nginx reaches Warden for workspace sessions: `WARDEN_WORKSPACE_ACCESS_URL`, else this host's
 * own API port. A process that picks a free port (`PORT=0`) cannot name it in nginx's configuration
 * before it listens, so there the setting is required.
 */
export function workspaceAccessUrl(config: {
  WARDEN_WORKSPACE_ACCESS_URL?: string | undefined;
  PORT: number;
}) {
  if (config.WARDEN_WORKSPACE_ACCESS_URL) return config.WARDEN_WORKSPACE_ACCESS_URL;
  if (config.PORT === 0) {
    throw new Error('WARDEN_WORKSPACE_ACCESS_URL must be set when PORT is 0 and WARDEN_NGINX_CONFIG is set');
  }
  return `http://127.0.0.1:${config.PORT}`;
}
