import { type Kysely, sql } from 'kysely';
import { z } from 'zod';
import type { Tables } from '../db/tables.ts';
import { randomToken } from '../identity/index.ts';

export const REQUEST_URI_PREFIX = 'urn:ietf:params:oauth:request_uri:';

/** A validated authorization request, as kept between the authorization endpoint and the login/consent pages. */
const AuthorizationRequest = z.object({
  clientId: z.string(),
  redirectUri: z.string(),
  scope: z.array(z.string()),
  state: z.string().nullable(),
  nonce: z.string().nullable(),
  codeChallenge: z.string(),
  responseMode: z.enum(['query', 'form_post']),
  prompt: z.array(z.string()),
  maxAge: z.number().nullable(),
  loginHint: z.string().nullable(),
  dpopJkt: z.string().nullable(),
});
export type AuthorizationRequest = z.infer<typeof AuthorizationRequest>;

interface RequestRow {
  id: string;
  kind: 'par' | 'interaction';
  tenant_id: string;
  client_id: string;
  params: unknown;
  csrf: string | null;
  expires_at: Date | string;
  used_at: Date | string | null;
}

/**
 * Pending authorization requests: pushed ones (RFC 9126, `request_uri`, single use) and the
 * interaction between the authorization endpoint and the login and consent pages (its id in the page,
 * its CSRF token in a cookie and the form).
 */
export function pendingRequests(deps: { db: Kysely<Tables>; clock: () => Date }) {
  const { db } = deps;
  const parse = (value: unknown): Record<string, unknown> =>
    (typeof value === 'string' ? JSON.parse(value) : value) as Record<string, unknown>;

  async function put(
    kind: RequestRow['kind'],
    tenantId: string,
    clientId: string,
    params: unknown,
    ttlSeconds: number,
    csrf: string | null,
  ) {
    const id = randomToken(256);
    const expiresAt = new Date(deps.clock().getTime() + ttlSeconds * 1000);
    await sql`
      insert into warden_oauth_requests (id, kind, tenant_id, client_id, params, csrf, expires_at)
      values (${id}, ${kind}, ${tenantId}, ${clientId}, ${JSON.stringify(params)}::jsonb, ${csrf},
              ${expiresAt.toISOString()}::timestamptz)`.execute(db);
    return { id, expiresAt };
  }

  return {
    /** Stores pushed parameters (raw, validated again when used) and returns the request_uri. */
    async push(tenantId: string, clientId: string, params: Record<string, string>, ttlSeconds: number) {
      const { id } = await put('par', tenantId, clientId, params, ttlSeconds, null);
      return `${REQUEST_URI_PREFIX}${id}`;
    },

    /** Uses up a pushed request of this client; undefined when unknown, used, expired or another client's. */
    async takePushed(tenantId: string, clientId: string, requestUri: string) {
      if (!requestUri.startsWith(REQUEST_URI_PREFIX)) return undefined;
      const id = requestUri.slice(REQUEST_URI_PREFIX.length);
      const result = await sql<RequestRow>`
        update warden_oauth_requests set used_at = now()
        where id = ${id} and kind = 'par' and tenant_id = ${tenantId} and client_id = ${clientId}
          and used_at is null and expires_at > ${deps.clock().toISOString()}::timestamptz
        returning *`.execute(db);
      const row = result.rows[0];
      return row ? (parse(row.params) as Record<string, string>) : undefined;
    },

    async startInteraction(tenantId: string, request: AuthorizationRequest, ttlSeconds: number) {
      const csrf = randomToken(128);
      const { id } = await put('interaction', tenantId, request.clientId, request, ttlSeconds, csrf);
      return { id, csrf };
    },

    /** The interaction if `csrf` matches and it is still open (it is not used up until `finish`). */
    async interaction(tenantId: string, id: string, csrf: string): Promise<AuthorizationRequest | undefined> {
      if (!/^[A-Za-z0-9_-]{43}$/.test(id)) return undefined;
      const result = await sql<RequestRow>`
        select * from warden_oauth_requests
        where id = ${id} and kind = 'interaction' and tenant_id = ${tenantId} and used_at is null
          and expires_at > ${deps.clock().toISOString()}::timestamptz`.execute(db);
      const row = result.rows[0];
      if (!row?.csrf || row.csrf.length !== csrf.length || row.csrf !== csrf) return undefined;
      return AuthorizationRequest.parse(parse(row.params));
    },

    /** Ends an interaction: true for the one caller that ends it (a double submit issues one code). */
    async finish(id: string): Promise<boolean> {
      const result = await sql`
        update warden_oauth_requests set used_at = now() where id = ${id} and used_at is null`.execute(db);
      return Number(result.numAffectedRows ?? 0n) === 1;
    },

    async sweep(): Promise<number> {
      const result = await sql`
        delete from warden_oauth_requests where expires_at < ${deps.clock().toISOString()}::timestamptz`.execute(
        db,
      );
      return Number(result.numAffectedRows ?? 0n);
    },
  };
}
export type PendingRequests = ReturnType<typeof pendingRequests>;
