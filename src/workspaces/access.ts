import { type Kysely, sql } from 'kysely';
import { sha256Hex } from '../crypto/digest.ts';
import { randomToken } from '../identity/index.ts';
import {
  type PersonalDataKeys,
  type RequestOrigin,
  type SealedRowOrigin,
  sealRowOrigin,
} from '../privacy/index.ts';
import { loadingCache } from '../runtime/cache.ts';
import {
  type AccessTables,
  listOpenSessions,
  originRow,
  type WorkspaceAccessTable,
  type WorkspaceSessionEntry,
} from './access-sessions.ts';

/** How long an entry ticket may wait to be used: it goes from an API answer straight into a browser. */
export const TICKET_TTL_MS = 60_000;
/** How long a session's positive check is reused in this process before the table is asked again. */
const CHECK_CACHE_MS = 5_000;
/**
 * How far behind a session's `last_used_at` may fall: a check that finds it older records the use,
 * so a session busy all day costs one write a minute (across processes too: the write is conditional),
 * never one per proxied request.
 */
export const LAST_USE_RESOLUTION_MS = 60_000;

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
  /**
   * The personal-data keys that seal where a session was entered from (address, User-Agent) with its
   * user's key, so an erasure destroys them. Absent: they are not kept.
   */
  personalData?: Pick<PersonalDataKeys, 'current' | 'find'> | undefined;
}

/**
 * Who may reach a workspace through nginx. The API gives a workspace's own user a one-time ticket
 * (valid {@link TICKET_TTL_MS}); the browser takes it to the workspace's address, where it becomes a
 * session cookie bound to that workspace; nginx asks {@link WorkspaceAccess.check} before each request
 * (`auth_request`). Tickets and sessions are random 256-bit secrets, kept only as their SHA-256, so a
 * copy of the table opens nothing. Using a ticket deletes it in the statement that writes its session:
 * both happen or neither does, and two browsers racing with one ticket get one session.
 */
export class WorkspaceAccess {
  readonly #db: Kysely<AccessTables>;
  readonly #checked;

  constructor(private readonly options: WorkspaceAccessOptions) {
    this.#db = options.db as Kysely<AccessTables>;
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
    await this.#db
      .insertInto('warden_workspace_access')
      .values(await this.#row('ticket', ticket, grant, expiresAt))
      .execute();
    return ticket;
  }

  /**
   * Uses a ticket (once): the session it becomes, or undefined for a ticket that is unknown, used,
   * expired, or whose user may no longer use the workspace (see `mayEnter`). A refused ticket is left
   * to expire; one whose session cannot be written (the call throws) is not used up. `origin` is
   * where the browser came from, kept sealed with the session (see `personalData`).
   */
  async enter(
    ticket: string,
    origin: Partial<RequestOrigin> = {},
  ): Promise<(WorkspaceGrant & { session: string; expiresAt: Date }) | undefined> {
    const now = this.options.clock();
    const ticketHash = sha256Hex(ticket);
    const row = await this.#db
      .selectFrom('warden_workspace_access')
      .select(['tenant_id', 'workspace_id', 'user_id', 'expires_at', 'authorized_at'])
      .where('secret_hash', '=', ticketHash)
      .where('kind', '=', 'ticket')
      .executeTakeFirst();
    if (!row || new Date(row.expires_at).getTime() <= now.getTime()) return undefined;
    const grant = { tenantId: row.tenant_id, workspaceId: row.workspace_id, userId: row.user_id };
    if (!(await this.options.mayEnter(grant.tenantId, grant.userId, new Date(row.authorized_at)))) {
      return undefined;
    }
    const session = randomToken();
    const expiresAt = new Date(now.getTime() + this.options.sessionTtlMs);
    const values = await this.#row('session', session, grant, expiresAt, { at: now, origin });
    const columns = Object.keys(values) as (keyof typeof values)[];
    // One statement uses the ticket up and writes the session, so both happen or neither does: a
    // session that cannot be written leaves the ticket for the browser's next try. The session is
    // inserted once per ticket row the delete removed (one or none), so of browsers racing with one
    // ticket only the one whose delete found it gets a session. The checks above stay outside it:
    // `mayEnter` and the sealing query through other connections (on PGlite, the same one). So the
    // session keeps the ticket's `authorized_at`, which every later check compares with the user's
    // credential changes: a password change landing between the check and this statement refuses the
    // session at its first use instead of being outlived by it.
    const made = await this.#db
      .with('used', (db) =>
        db
          .deleteFrom('warden_workspace_access')
          .where('secret_hash', '=', ticketHash)
          .where('kind', '=', 'ticket')
          .where('expires_at', '>', now)
          .returning('authorized_at'),
      )
      .insertInto('warden_workspace_access')
      .columns(columns)
      .expression((eb) =>
        eb
          .selectFrom('used')
          .select((sb) =>
            columns.map((column) =>
              column === 'authorized_at'
                ? sb.ref('used.authorized_at').as(column)
                : sb.val(values[column]).as(column),
            ),
          ),
      )
      .returning('id')
      .executeTakeFirst();
    return made ? { ...grant, session, expiresAt } : undefined;
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

  /**
   * The workspace's open sessions, newest first: unexpired, and still letting its user in (not from
   * before a password change, say). `cursor`: where the previous page ended. Up to `limit + 1` come
   * back, so the caller knows whether there is a next page. Tickets not yet used are not sessions.
   */
  sessions(
    workspaceId: string,
    page: { limit: number; cursor?: string | undefined },
  ): Promise<WorkspaceSessionEntry[]> {
    return listOpenSessions(this.#db, this.options, workspaceId, page);
  }

  /** Whether the workspace has this open (unexpired) session. */
  async isOpen(workspaceId: string, sessionId: string): Promise<boolean> {
    const row = await this.#db
      .selectFrom('warden_workspace_access')
      .select('id')
      .where('id', '=', sessionId)
      .where('workspace_id', '=', workspaceId)
      .where('kind', '=', 'session')
      .where('expires_at', '>', this.options.clock())
      .executeTakeFirst();
    return row !== undefined;
  }

  /**
   * Ends one session of the workspace by its public id (here at once; elsewhere within 5 s): whether
   * an open one was ended. Another workspace's session, or a ticket, is not touched.
   */
  async end(workspaceId: string, sessionId: string): Promise<boolean> {
    const removed = await this.#db
      .deleteFrom('warden_workspace_access')
      .where('id', '=', sessionId)
      .where('workspace_id', '=', workspaceId)
      .where('kind', '=', 'session')
      .returning(['secret_hash', 'expires_at'])
      .executeTakeFirst();
    if (!removed) return false;
    this.#checked.delete(`${removed.secret_hash} ${workspaceId}`);
    return new Date(removed.expires_at).getTime() > this.options.clock().getTime();
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
      .select(['tenant_id', 'workspace_id', 'user_id', 'expires_at', 'authorized_at', 'last_used_at'])
      .where('secret_hash', '=', hash)
      .where('kind', '=', 'session')
      .where('workspace_id', '=', workspaceId)
      .executeTakeFirst();
    const now = this.options.clock();
    if (!row || new Date(row.expires_at).getTime() <= now.getTime()) return false;
    const grant = { tenantId: row.tenant_id, workspaceId: row.workspace_id, userId: row.user_id };
    if (!(await this.options.mayEnter(grant.tenantId, grant.userId, new Date(row.authorized_at))))
      return false;
    // Only a lookup writes (one per session per 5 s in a process, the check's reuse), and only when
    // the last recorded use is a minute old.
    const stale = new Date(now.getTime() - LAST_USE_RESOLUTION_MS);
    if (row.last_used_at === null || new Date(row.last_used_at).getTime() <= stale.getTime()) {
      await this.#db
        .updateTable('warden_workspace_access')
        .set({ last_used_at: now })
        .where('secret_hash', '=', hash)
        .where((eb) => eb.or([eb('last_used_at', 'is', null), eb('last_used_at', '<=', stale)]))
        .execute();
    }
    return grant;
  }

  /** The row of a new ticket or session; `entered`: a session's entry (its time, and origin to seal). */
  async #row(
    kind: 'ticket' | 'session',
    secret: string,
    grant: WorkspaceGrant,
    expiresAt: Date,
    entered?: { at: Date; origin: Partial<RequestOrigin> },
  ): Promise<WorkspaceAccessTable> {
    const id = crypto.randomUUID();
    const keys = this.options.personalData;
    let origin: SealedRowOrigin | null = null;
    if (entered && keys) {
      const subject = { subjectId: grant.userId, tenantId: grant.tenantId };
      origin = await sealRowOrigin(keys, subject, entered.origin, originRow(id));
    }
    // The app's clock, as `mayEnter` compares it with the user's credential changes.
    const createdAt = entered?.at ?? this.options.clock();
    return {
      secret_hash: sha256Hex(secret),
      id,
      kind,
      tenant_id: grant.tenantId,
      workspace_id: grant.workspaceId,
      user_id: grant.userId,
      expires_at: expiresAt,
      created_at: createdAt,
      // A ticket's own moment; a session's is replaced by its ticket's in the statement that makes it.
      authorized_at: createdAt,
      // Entering is a session's first use.
      last_used_at: entered ? createdAt : null,
      origin_key: origin?.key ?? null,
      origin: origin?.sealed ?? null,
    };
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
