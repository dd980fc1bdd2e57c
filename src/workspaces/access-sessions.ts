import type { Kysely } from 'kysely';
import { openRowOrigins, type PersonalDataKeys, type RequestOrigin } from '../privacy/index.ts';
import { keysetAfter } from '../projections/engine/index.ts';

export interface WorkspaceAccessTable {
  secret_hash: string;
  /** The public id: what the user lists and ends a session by, neither the secret nor its hash. */
  id: string;
  kind: 'ticket' | 'session';
  tenant_id: string;
  workspace_id: string;
  user_id: string;
  expires_at: Date;
  created_at: Date;
  /**
   * The moment its authority dates from, which `mayEnter` compares with the user's credential
   * changes: a ticket's making, kept by the session the ticket becomes.
   */
  authorized_at: Date;
  /** A session's last request through nginx, to the minute (see `LAST_USE_RESOLUTION_MS`). */
  last_used_at: Date | null;
  /** Where the session was entered from, sealed with its user's data key (`origin_key`). */
  origin_key: string | null;
  origin: string | null;
}

export type AccessTables = { warden_workspace_access: WorkspaceAccessTable };

/** An open browser session of a workspace, as its user lists it: never its secret nor its hash. */
export interface WorkspaceSessionEntry {
  id: string;
  createdAt: Date;
  expiresAt: Date;
  lastUsedAt: Date | null;
  /** The entering browser's address and User-Agent (`[erased]` once its user's key is), if kept. */
  origin: RequestOrigin | null;
}

/** The order sessions are listed in (newest first), which the list's cursors name. */
export const SESSION_ORDER = '-created_at';

/** What a sealed origin is bound to: its row, so it opens nowhere else. */
export const originRow = (id: string) => `warden_workspace_access ${id}`;

/**
 * A workspace's open sessions, newest first: unexpired, and still letting their user in (`mayEnter`:
 * none from before a password change, say). `cursor`: where the previous page ended. Up to
 * `limit + 1` come back, so the caller knows whether there is a next page.
 */
export async function listOpenSessions(
  db: Kysely<AccessTables>,
  options: {
    clock: () => Date;
    mayEnter: (tenantId: string, userId: string, since: Date) => Promise<boolean>;
    personalData?: Pick<PersonalDataKeys, 'find'> | undefined;
  },
  workspaceId: string,
  page: { limit: number; cursor?: string | undefined },
): Promise<WorkspaceSessionEntry[]> {
  let query = db
    .selectFrom('warden_workspace_access')
    .select([
      'id',
      'tenant_id',
      'user_id',
      'created_at',
      'authorized_at',
      'expires_at',
      'last_used_at',
      'origin_key',
      'origin',
    ])
    .where('workspace_id', '=', workspaceId)
    .where('kind', '=', 'session')
    .where('expires_at', '>', options.clock());
  // The list's keyset order: a cursor the list did not hand out is a 400 `bad-cursor`.
  if (page.cursor) query = query.where(keysetAfter(page.cursor, SESSION_ORDER));
  const rows = await query
    .orderBy('created_at', 'desc')
    .orderBy('id', 'desc')
    .limit(page.limit + 1)
    .execute();
  const open = rows.slice(0, await openPrefix(rows, options.mayEnter));
  const keys = options.personalData;
  const origins = keys
    ? await openRowOrigins(
        keys,
        open.map((row) => ({
          origin: row.origin_key && row.origin ? { key: row.origin_key, sealed: row.origin } : null,
          row: originRow(row.id),
        })),
      )
    : [];
  return open.map((row, index) => ({
    id: row.id,
    createdAt: new Date(row.created_at),
    expiresAt: new Date(row.expires_at),
    lastUsedAt: row.last_used_at === null ? null : new Date(row.last_used_at),
    origin: origins[index] ?? null,
  }));
}

/**
 * How many of these sessions (newest first, of one workspace, so of one user) still let their user
 * in. `mayEnter` refuses a user's sessions made before a moment (a password change), or all of them,
 * so the open ones are a prefix: the oldest is asked first (usually all are open), then a bisection.
 */
async function openPrefix(
  rows: readonly { tenant_id: string; user_id: string; authorized_at: Date }[],
  mayEnter: (tenantId: string, userId: string, since: Date) => Promise<boolean>,
): Promise<number> {
  const letsIn = (index: number) => {
    const row = rows[index] as (typeof rows)[number];
    return mayEnter(row.tenant_id, row.user_id, new Date(row.authorized_at));
  };
  if (rows.length === 0 || (await letsIn(rows.length - 1))) return rows.length;
  let open = 0;
  let refused = rows.length - 1;
  while (open < refused) {
    const middle = Math.floor((open + refused) / 2);
    if (await letsIn(middle)) open = middle + 1;
    else refused = middle;
  }
  return open;
}
