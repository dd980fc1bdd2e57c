import type { Context, MiddlewareHandler } from 'hono';
import type { Kysely } from 'kysely';
import type { Permission } from '../../commands/identity/index.ts';
import { sha256Hex } from '../../crypto/digest.ts';
import type { Tables } from '../../db/tables.ts';
import type { AppEnv } from '../kit/index.ts';
import { problemResponse } from '../kit/index.ts';

type IdempotencyTables = {
  warden_idempotency: {
    scope: string;
    key: string;
    fingerprint: string;
    /** `withheld`: done, but the response carried a secret and only its status and headers are kept. */
    state: 'processing' | 'done' | 'withheld';
    status: number | null;
    headers: unknown;
    body: string | null;
    expires_at: Date;
  };
};

const KEY = /^[\x21-\x7e]{1,255}$/;
const REPLAYED_HEADERS = ['content-type', 'location', 'etag', 'x-position'];
// Kept beside the headers (no header name starts with a colon): where the request was made and the
// permission checks it passed, so a replay repeats them.
const TENANT = ':tenant';
const AUTHORIZED_BY = ':authorized-by';

/** A response marked `Cache-Control: no-store` (a client secret shown once) must not be kept anywhere. */
const isNoStore = (res: Response) =>
  (res.headers.get('cache-control') ?? '').split(',').some((d) => d.trim().toLowerCase() === 'no-store');

/**
 * Why the caller may not have a stored response: the request was made in another tenant, or a
 * permission check it passed fails for the caller now (a role lowered since, a token with fewer scopes).
 */
function replayRefusal(c: Context<AppEnv>, stored: Record<string, string>): string | undefined {
  const tenant = stored[TENANT];
  if (tenant !== undefined && tenant !== (c.get('tenant')?.id ?? '')) {
    return 'this Idempotency-Key was used in another tenant';
  }
  const principal = c.get('principal');
  for (const check of (stored[AUTHORIZED_BY] ?? '').split(' ').filter((p) => p !== '')) {
    const needed = check.split('|') as Permission[];
    if (!needed.some((p) => principal?.permissions.has(p))) {
      return `replaying this request needs the permission ${needed.join(' or ')}`;
    }
  }
  return undefined;
}

export interface IdempotencyOptions {
  db: Kysely<Tables>;
  ttlHours: number;
  /** Who the key belongs to (keys of different callers never collide). */
  scope: (c: Parameters<MiddlewareHandler<AppEnv>>[0]) => string;
  clock?: () => Date;
}

/**
 * `Idempotency-Key` on POST (IETF draft-ietf-httpapi-idempotency-key-header): the first request with a
 * key runs and its response is stored; a repeat with the same body gets that response again
 * (`Idempotent-Replayed: true`) and causes nothing; a repeat with another body is 422; a repeat while
 * the first is still running is 409. Failed (5xx) responses are forgotten so the client can retry.
 * A replay repeats the original request's permission checks (403 when the caller fails one now). A
 * response marked `no-store` (it shows a secret once) is never kept: its repeat is 409 with the
 * original `Location`, as running it again would act twice and replaying it would show the secret twice.
 */
export function idempotency(options: IdempotencyOptions): MiddlewareHandler<AppEnv> {
  const db = options.db.withTables<IdempotencyTables>();
  const clock = options.clock ?? (() => new Date());
  return async (c, next) => {
    if (c.req.method !== 'POST') return next();
    const key = c.req.header('idempotency-key');
    if (key === undefined) return next();
    if (!KEY.test(key)) {
      return problemResponse(c, 400, 'bad-header', 'Idempotency-Key must be 1–255 visible ASCII characters', {
        errors: [{ path: 'header.Idempotency-Key', message: 'must be 1–255 visible ASCII characters' }],
      });
    }
    const scope = options.scope(c);
    const fingerprint = sha256Hex(
      `${c.req.method} ${new URL(c.req.url).pathname}\n${c.get('rawBody') ?? ''}`,
    );
    const now = clock();
    const expires = new Date(now.getTime() + options.ttlHours * 3_600_000);
    await db
      .deleteFrom('warden_idempotency')
      .where('scope', '=', scope)
      .where('key', '=', key)
      .where('expires_at', '<', now)
      .execute();
    const claimed = await db
      .insertInto('warden_idempotency')
      .values({
        scope,
        key,
        fingerprint,
        state: 'processing',
        status: null,
        headers: null,
        body: null,
        expires_at: expires,
      })
      .onConflict((oc) => oc.columns(['scope', 'key']).doNothing())
      .returning('key')
      .executeTakeFirst();
    if (!claimed) {
      const row = await db
        .selectFrom('warden_idempotency')
        .selectAll()
        .where('scope', '=', scope)
        .where('key', '=', key)
        .executeTakeFirst();
      if (!row) return problemResponse(c, 409, 'idempotency-in-progress', 'retry this request', {});
      if (row.fingerprint !== fingerprint) {
        return problemResponse(
          c,
          422,
          'idempotency-key-reused',
          'this Idempotency-Key was used for a different request',
          {
            errors: [{ path: 'header.Idempotency-Key', message: 'already used with another body or path' }],
          },
        );
      }
      if (row.state === 'processing') {
        c.header('Retry-After', '1');
        return problemResponse(
          c,
          409,
          'idempotency-in-progress',
          'a request with this Idempotency-Key is still running',
        );
      }
      const stored = (typeof row.headers === 'string' ? JSON.parse(row.headers) : row.headers) as Record<
        string,
        string
      >;
      const refusal = replayRefusal(c, stored);
      if (refusal) return problemResponse(c, 403, 'forbidden', refusal);
      const headers = new Headers(Object.entries(stored).filter(([name]) => !name.startsWith(':')));
      if (row.state === 'withheld') {
        const location = headers.get('location');
        if (location !== null) c.header('Location', location);
        return problemResponse(
          c,
          409,
          'idempotency-response-withheld',
          'the request with this Idempotency-Key was done, but its response showed a secret and is not kept: read the resource (or rotate the secret) instead',
        );
      }
      headers.set('Idempotent-Replayed', 'true');
      return new Response(row.body, { status: row.status ?? 200, headers });
    }
    let stored = false;
    try {
      await next();
      const res = c.res;
      if (res.status < 500) {
        const headers: Record<string, string> = {};
        for (const name of REPLAYED_HEADERS) {
          const value = res.headers.get(name);
          if (value !== null) headers[name] = value;
        }
        headers[TENANT] = c.get('tenant')?.id ?? '';
        headers[AUTHORIZED_BY] = (c.get('authorizedBy') ?? []).map((needed) => needed.join('|')).join(' ');
        const withheld = isNoStore(res);
        const body = withheld ? null : await res.clone().text();
        await db
          .updateTable('warden_idempotency')
          .set({
            state: withheld ? 'withheld' : 'done',
            status: res.status,
            headers: JSON.stringify(headers),
            body,
          })
          .where('scope', '=', scope)
          .where('key', '=', key)
          .execute();
        stored = true;
      }
    } finally {
      if (!stored)
        await db.deleteFrom('warden_idempotency').where('scope', '=', scope).where('key', '=', key).execute();
    }
  };
}

/**
 * Drops the stored responses of a person's own requests and every stored response that names their
 * user id (an admin's "add user" holds the email and name in its body): after an erasure no replayed
 * answer may bring the data back. A retry of such a request then runs again (the user is removed by
 * then, so an "add user" would add them anew: the one price, within the TTL, of forgetting it).
 */
export async function forgetResponsesAbout(db: Kysely<Tables>, userId: string): Promise<number> {
  const result = await db
    .withTables<IdempotencyTables>()
    .deleteFrom('warden_idempotency')
    .where((eb) => eb.or([eb('scope', '=', `user:${userId}`), eb('body', 'like', `%${userId}%`)]))
    .executeTakeFirst();
  return Number(result.numDeletedRows);
}
