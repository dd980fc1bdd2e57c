import { type Kysely, sql } from 'kysely';
import type { Tables } from '../../db/tables.ts';
import { intervalSync } from '../../runtime/interval-sync.ts';

export type RevocationCache = ReturnType<typeof revocationCache>;

/**
 * This process's copy of the revoked access-token ids and token families. `fresh()` fetches what was
 * recorded since the last fetch (less a minute of overlap, for writes that committed late) once the
 * copy is older than `syncMs`, one query for both, shared by concurrent callers. Token ids are kept
 * until the token expires; families until every access token issued in them has expired, both by the
 * injected clock (the sync interval itself is monotonic time: how old this copy is, not what time it is).
 */
export function revocationCache(
  db: Kysely<Tables>,
  syncMs: number,
  accessTtlSeconds: number,
  clock: () => Date,
) {
  const tokens = new Map<string, number>();
  const families = new Map<string, number>();
  let since: string | null = null;
  const familyLifeMs = (accessTtlSeconds + 120) * 1000;

  async function sync() {
    const { rows } = await sql<{ now: Date | string; tokens: [string, string][]; families: string[] }>`
      select now() as now,
        coalesce((select json_agg(json_build_array(jti, expires_at)) from warden_revoked_access_tokens
                  where ${since}::timestamptz is null or recorded_at > ${since}::timestamptz), '[]') as tokens,
        coalesce((select json_agg(family_id) from warden_token_families
                  where revoked_recorded_at is not null
                    and (${since}::timestamptz is null or revoked_recorded_at > ${since}::timestamptz)), '[]') as families`.execute(
      db,
    );
    const row = rows[0];
    if (!row) return;
    const parse = <T>(value: T | string): T => (typeof value === 'string' ? (JSON.parse(value) as T) : value);
    for (const [jti, expires] of parse(row.tokens)) tokens.set(jti, Date.parse(expires));
    for (const family of parse(row.families))
      if (!families.has(family)) families.set(family, clock().getTime());
    since = new Date(new Date(row.now).getTime() - 60_000).toISOString();
    prune();
  }

  function prune() {
    const now = clock().getTime();
    for (const [family, seen] of families) if (now - seen > familyLifeMs) families.delete(family);
    for (const [jti, expires] of tokens) if (expires < now - 60_000) tokens.delete(jti);
  }

  return {
    fresh: intervalSync(syncMs, sync),
    has(tokenId: string, familyId?: string): boolean {
      return tokens.has(tokenId) || (familyId !== undefined && families.has(familyId));
    },
    revokeToken(tokenId: string, expiresAt: Date) {
      tokens.set(tokenId, expiresAt.getTime());
    },
    revokeFamily(familyId: string) {
      families.set(familyId, clock().getTime());
    },
  };
}
