import { type Kysely, sql } from 'kysely';
import type { Tables } from '../db/tables.ts';

/**
 * One-time ids shared by every process (`warden_oauth_jti`): a client assertion's or a DPoP proof's
 * `jti` is accepted once until it expires. The insert is the check, so two processes cannot both
 * accept the same proof. Expiry is read on the application's clock, the one that dated the proof and
 * computed `expiresAt`: against the database's `now()`, an application clock behind the server's made
 * every id expire early (a proof replayable while the application still accepted its `iat`).
 */
export function replayGuard(db: Kysely<Tables>, clock: () => Date = () => new Date()) {
  return {
    /** True the first time `key` is seen (it is then kept until `expiresAt`), false on a replay. */
    async firstUse(key: string, expiresAt: Date): Promise<boolean> {
      const result = await sql<{ key: string }>`
        insert into warden_oauth_jti (key, expires_at) values (${key}, ${expiresAt.toISOString()}::timestamptz)
        on conflict (key) do update set expires_at = excluded.expires_at
          where warden_oauth_jti.expires_at <= ${clock().toISOString()}::timestamptz
        returning key`.execute(db);
      return result.rows.length === 1;
    },

    /** Forgets the ids that expired (by the same clock); the number forgotten. */
    async sweep(): Promise<number> {
      const result = await sql`
        delete from warden_oauth_jti where expires_at <= ${clock().toISOString()}::timestamptz`.execute(db);
      return Number(result.numAffectedRows ?? 0n);
    },
  };
}
export type ReplayGuard = ReturnType<typeof replayGuard>;
