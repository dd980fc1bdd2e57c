import type { Kysely } from 'kysely';
import { z } from 'zod';
import { sha256Hex } from '../crypto/digest.ts';
import type { Tables } from '../db/tables.ts';
import type { EventStore } from '../eventstore/port.ts';

/**
 * Read tokens of a tenant's npm view (`/t/<slug>/npm/`): long random secrets a CI job puts in its
 * `.npmrc`, each bound to one tenant, stored only as SHA-256 hashes (migration 0017). Issuing and
 * revoking one are audit events on `packages.NpmToken-<id>`; the events name the token and never hold
 * it or its hash.
 */

export const npmTokenStreamId = (tokenId: string) => `packages.NpmToken-${tokenId}`;

export const NpmTokenIssued = z.object({
  tokenId: z.uuid(),
  tenantId: z.uuid(),
  name: z.string(),
  issuedAt: z.iso.datetime(),
});
export const NpmTokenRevoked = z.object({
  tokenId: z.uuid(),
  revokedAt: z.iso.datetime(),
  /** `issuer_gone`: revoked because the user who issued it left the tenant (absent: revoked by a person). */
  reason: z.literal('issuer_gone').optional(),
});

const text = (value: unknown) => (typeof value === 'string' ? value : '?');
/** The audit trail's sentences for the npm token events. */
export const npmTokenSummaries: Readonly<Record<string, (data: Record<string, unknown>) => string>> = {
  NpmTokenIssued: (d) => `npm read token ${text(d.tokenId)} ("${text(d.name)}") issued`,
  NpmTokenRevoked: (d) =>
    `npm read token ${text(d.tokenId)} revoked${d.reason === 'issuer_gone' ? ' (its issuer left the tenant)' : ''}`,
};

export type NpmTokenTables = {
  warden_npm_tokens: {
    token_id: string;
    tenant_id: string;
    token_hash: string;
    name: string;
    created_by: string;
    created_at: Date | string;
    revoked_at: Date | string | null;
    revoked_by: string | null;
  };
};

/** What may be shown of a token: never the secret, never its hash. */
export interface NpmTokenRecord {
  id: string;
  tenantId: string;
  name: string;
  createdBy: string;
  createdAt: Date;
  revokedAt: Date | null;
}

export interface NpmTokenStore {
  /** A new token for the tenant; the secret is returned here only. */
  issue(input: {
    tenantId: string;
    userId: string;
    name: string;
    requestId?: string;
  }): Promise<{ token: string; record: NpmTokenRecord }>;
  /** The live token of this tenant the secret is, or undefined (unknown, revoked, another tenant's). */
  verify(tenantId: string, secret: string): Promise<NpmTokenRecord | undefined>;
  list(tenantId: string): Promise<NpmTokenRecord[]>;
  find(tenantId: string, tokenId: string): Promise<NpmTokenRecord | undefined>;
  /** Revokes a live token; false when there is none of that id in the tenant, or it is revoked already. */
  revoke(input: { tenantId: string; tokenId: string; userId: string; requestId?: string }): Promise<boolean>;
}

/** Recognisable in a leaked-secret scan, then 256 random bits. */
const PREFIX = 'wnpm_';
const SHAPE = /^wnpm_[A-Za-z0-9_-]{43}$/;

function randomSecret(): string {
  let binary = '';
  for (const byte of crypto.getRandomValues(new Uint8Array(32))) binary += String.fromCharCode(byte);
  return PREFIX + btoa(binary).replaceAll('+', '-').replaceAll('/', '_').replace(/=+$/, '');
}

type Row = NpmTokenTables['warden_npm_tokens'];
const recordOf = (row: Omit<Row, 'token_hash' | 'revoked_by'>): NpmTokenRecord => ({
  id: row.token_id,
  tenantId: row.tenant_id,
  name: row.name,
  createdBy: row.created_by,
  createdAt: new Date(row.created_at),
  revokedAt: row.revoked_at === null ? null : new Date(row.revoked_at),
});
const COLUMNS = ['token_id', 'tenant_id', 'name', 'created_by', 'created_at', 'revoked_at'] as const;

/**
 * Revokes every live token `userId` issued in the tenant up to `at` (the user left it then): the
 * tokens' ids. A token issued after `at` (the user was added again) is not the departed member's.
 */
export async function revokeTokensIssuedBy(
  db: Kysely<unknown>,
  which: { tenantId: string; userId: string; at: string; by: string },
): Promise<string[]> {
  const rows = await (db as Kysely<NpmTokenTables>)
    .updateTable('warden_npm_tokens')
    .set({ revoked_at: which.at, revoked_by: which.by })
    .where('tenant_id', '=', which.tenantId)
    .where('created_by', '=', which.userId)
    .where('created_at', '<=', which.at)
    .where('revoked_at', 'is', null)
    .returning('token_id')
    .execute();
  return rows.map((row) => row.token_id).sort();
}

export function npmTokenStore(deps: {
  db: Kysely<Tables>;
  store: Pick<EventStore, 'append'>;
  clock: () => Date;
}): NpmTokenStore {
  // cast: Kysely's table map is invariant; the token tables live in the same database.
  const db = deps.db as unknown as Kysely<NpmTokenTables>;
  const audit = (
    tokenId: string,
    tenantId: string,
    userId: string,
    type: string,
    data: object,
    requestId?: string,
  ) =>
    deps.store.append(
      npmTokenStreamId(tokenId),
      [
        {
          id: crypto.randomUUID(),
          type,
          data: { tokenId, ...data },
          metadata: { tenantId, actorId: userId, ...(requestId === undefined ? {} : { requestId }) },
        },
      ],
      { expected: 'any' },
    );
  return {
    async issue({ tenantId, userId, name, requestId }) {
      const token = randomSecret();
      const now = deps.clock();
      const row = {
        token_id: crypto.randomUUID(),
        tenant_id: tenantId,
        token_hash: sha256Hex(token),
        name,
        created_by: userId,
        created_at: now.toISOString(),
        revoked_at: null,
        revoked_by: null,
      };
      await db.insertInto('warden_npm_tokens').values(row).execute();
      await audit(
        row.token_id,
        tenantId,
        userId,
        'NpmTokenIssued',
        { tenantId, name, issuedAt: now.toISOString() },
        requestId,
      );
      return { token, record: recordOf(row) };
    },
    async verify(tenantId, secret) {
      // Anything not shaped like our tokens is refused before it costs a hash and a query.
      if (!SHAPE.test(secret)) return undefined;
      const row = await db
        .selectFrom('warden_npm_tokens')
        .select(COLUMNS)
        .where('token_hash', '=', sha256Hex(secret))
        .where('tenant_id', '=', tenantId)
        .where('revoked_at', 'is', null)
        .executeTakeFirst();
      return row ? recordOf(row) : undefined;
    },
    async list(tenantId) {
      const rows = await db
        .selectFrom('warden_npm_tokens')
        .select(COLUMNS)
        .where('tenant_id', '=', tenantId)
        .orderBy('created_at')
        .orderBy('token_id')
        .execute();
      return rows.map(recordOf);
    },
    async find(tenantId, tokenId) {
      const row = await db
        .selectFrom('warden_npm_tokens')
        .select(COLUMNS)
        .where('tenant_id', '=', tenantId)
        .where('token_id', '=', tokenId)
        .executeTakeFirst();
      return row ? recordOf(row) : undefined;
    },
    async revoke({ tenantId, tokenId, userId, requestId }) {
      const now = deps.clock().toISOString();
      const revoked = await db
        .updateTable('warden_npm_tokens')
        .set({ revoked_at: now, revoked_by: userId })
        .where('tenant_id', '=', tenantId)
        .where('token_id', '=', tokenId)
        .where('revoked_at', 'is', null)
        .returning('token_id')
        .executeTakeFirst();
      if (!revoked) return false;
      await audit(tokenId, tenantId, userId, 'NpmTokenRevoked', { revokedAt: now }, requestId);
      return true;
    },
  };
}
