import { sql } from 'kysely';
import type { TokenSessions } from './session-types.ts';
import type { SessionContext } from './token-families.ts';

/** Deleting what has expired: denylisted access tokens, and families (with their tokens) past their end. */
export function cleanup(context: SessionContext): Pick<TokenSessions, 'sweep'> {
  const { deps, db, clock } = context;
  return {
    async sweep() {
      const now = clock();
      const at = now.toISOString();
      // A family's row outlives it by one access-token lifetime: its last access tokens still ask about it.
      const gone = new Date(now.getTime() - deps.access.ttlSeconds * 1000).toISOString();
      const denied =
        await sql`delete from warden_revoked_access_tokens where expires_at <= ${at}::timestamptz`.execute(
          db,
        );
      const tokens = await sql`
        delete from warden_refresh_tokens where family_id in
          (select family_id from warden_token_families where expires_at <= ${gone}::timestamptz)`.execute(db);
      const families =
        await sql`delete from warden_token_families where expires_at <= ${gone}::timestamptz`.execute(db);
      return (
        Number(denied.numAffectedRows ?? 0n) +
        Number(tokens.numAffectedRows ?? 0n) +
        Number(families.numAffectedRows ?? 0n)
      );
    },
  };
}
