import { type Kysely, type RawBuilder, sql } from 'kysely';
import { sha256Hex } from '../crypto/digest.ts';
import type { Tables } from '../db/tables.ts';

/** Limits of login throttling (WARDEN_LOGIN_* in config). */
export interface LoginThrottleConfig {
  /** Attempts per account (tenant + email) within one window. */
  maxAttemptsPerAccount: number;
  /** Attempts per client address within one window, over every account. */
  maxAttemptsPerAddress: number;
  windowSeconds: number;
  /** Failures allowed without delay before backoff starts. */
  freeFailures: number;
  /** First backoff delay; it doubles with each further failure, up to `backoffMaxMs`. */
  backoffBaseMs: number;
  backoffMaxMs: number;
}

export const defaultLoginThrottle: LoginThrottleConfig = {
  maxAttemptsPerAccount: 10,
  maxAttemptsPerAddress: 100,
  windowSeconds: 900,
  freeFailures: 3,
  backoffBaseMs: 1000,
  backoffMaxMs: 60_000,
};

/** Who is trying: the account (its tenant and email) and, when known, the client address. */
export interface LoginKey {
  tenantId: string;
  email: string;
  address?: string | undefined;
}

export type ThrottleDecision = { allowed: true } | { allowed: false; retryAfterSeconds: number };

export interface LoginThrottle {
  /**
   * Call before verifying the password. Allowing the attempt and counting it are one statement, so
   * parallel attempts can never get more than the limit through. Refused: answer 429 with
   * `Retry-After: retryAfterSeconds` and do not verify.
   */
  checkLogin(key: LoginKey): Promise<ThrottleDecision>;
  /**
   * Call after a wrong password: counts the account's failure and, past the free ones, sets its
   * backoff. Answers the lock when this failure started one (the first past the free ones), else undefined.
   */
  recordFailure(key: LoginKey): Promise<{ lockedUntil: Date } | undefined>;
  /** Call when a right password is refused all the same (waiting for approval, tenant suspended): counted only. */
  recordRefused(
    key: LoginKey,
    reason: 'not_active' | 'tenant_suspended' | 'password_change_required' | 'email_unverified',
  ): Promise<void>;
  /** Call after a good password: clears the account's record and gives the address its attempt back. */
  recordSuccess(key: LoginKey): Promise<void>;
  /** Deletes records whose window has passed (call now and then; correctness does not depend on it). */
  sweep(): Promise<number>;
}

/** Emails are stored hashed: the throttle table needs to tell accounts apart, not to know them. */
async function rowKeys(key: LoginKey): Promise<{ key: string; limit: 'account' | 'address' }[]> {
  const account = `account:${sha256Hex(`${key.tenantId}\u001f${key.email.trim().toLowerCase()}`)}`;
  return key.address
    ? [
        { key: account, limit: 'account' },
        { key: `address:${key.address}`, limit: 'address' },
      ]
    : [{ key: account, limit: 'account' }];
}

/**
 * Login throttling with its state in PostgreSQL (table `warden_login_throttle`), so it holds across
 * processes. Per key: at most N attempts per window, and after `freeFailures` failures an
 * exponentially growing wait between attempts.
 */
export function loginThrottle(
  db: Kysely<Tables>,
  config: LoginThrottleConfig = defaultLoginThrottle,
  clock: () => Date = () => new Date(),
): LoginThrottle {
  const windowMs = config.windowSeconds * 1000;
  const limitOf = (kind: 'account' | 'address') =>
    kind === 'account' ? config.maxAttemptsPerAccount : config.maxAttemptsPerAddress;

  /**
   * Takes one attempt of `key` (an upsert; none when `onlyIf` is given and yields no row). The WHERE of
   * ON CONFLICT DO UPDATE is evaluated on the row's latest version under its row lock, so concurrent
   * attempts queue on the row and each sees the count the previous one left. No failure yet means no
   * backoff: the wait starts at -infinity, not at this attempt's clock reading, or a concurrent
   * attempt that read the clock a moment earlier would be refused.
   */
  function takeOne(key: string, limit: number, now: Date, onlyIf?: RawBuilder<unknown>) {
    const at = now.toISOString();
    const expired = new Date(now.getTime() - windowMs).toISOString();
    const source = onlyIf
      ? sql`select ${key}, ${at}::timestamptz, 1, 0, '-infinity'::timestamptz where exists (${onlyIf})`
      : sql`values (${key}, ${at}::timestamptz, 1, 0, '-infinity'::timestamptz)`;
    return sql`
      insert into warden_login_throttle as t (key, window_start, attempts, failures, next_allowed_at)
      ${source}
      on conflict (key) do update set
        attempts = case when t.window_start <= ${expired}::timestamptz then 1 else t.attempts + 1 end,
        failures = case when t.window_start <= ${expired}::timestamptz then 0 else t.failures end,
        next_allowed_at = case when t.window_start <= ${expired}::timestamptz then '-infinity'::timestamptz
                               else t.next_allowed_at end,
        window_start = case when t.window_start <= ${expired}::timestamptz then ${at}::timestamptz
                            else t.window_start end
      where t.window_start <= ${expired}::timestamptz
         or (t.attempts < ${limit} and t.next_allowed_at <= ${at}::timestamptz)
      returning attempts`;
  }

  /** The wait before `key` may try again, read from its row after a refused attempt. */
  async function refusal(key: string, limit: number, now: Date): Promise<ThrottleDecision> {
    const row = await sql<{ window_start: Date | string; attempts: number; next_allowed_at: Date | string }>`
      select window_start, attempts, next_allowed_at from warden_login_throttle where key = ${key}`.execute(
      db,
    );
    const current = row.rows[0];
    if (!current) return { allowed: false, retryAfterSeconds: 1 };
    const until =
      current.attempts >= limit
        ? new Date(current.window_start).getTime() + windowMs
        : new Date(current.next_allowed_at).getTime();
    return { allowed: false, retryAfterSeconds: Math.max(1, Math.ceil((until - now.getTime()) / 1000)) };
  }

  return {
    async checkLogin(key) {
      const now = clock();
      const [account, address] = await rowKeys(key);
      if (!account) return { allowed: true };
      const accountLimit = limitOf(account.limit);
      // One statement, one commit: the account first, and the address only when the account took its
      // attempt (a locked account does not spend its address's attempts).
      const taken = address
        ? await sql<{ account: boolean; address: boolean }>`
            with account as (${takeOne(account.key, accountLimit, now)}),
                 address as (${takeOne(address.key, limitOf(address.limit), now, sql`select 1 from account`)})
            select exists (select 1 from account) as account, exists (select 1 from address) as address
            /* prepared:login_throttle_take_both */`.execute(db)
        : await sql<{ account: boolean; address: boolean }>`
            with account as (${takeOne(account.key, accountLimit, now)})
            select exists (select 1 from account) as account, true as address
            /* prepared:login_throttle_take_account */`.execute(db);
      const row = taken.rows[0];
      if (!row?.account) return refusal(account.key, accountLimit, now);
      if (address && !row.address) return refusal(address.key, limitOf(address.limit), now);
      return { allowed: true };
    },

    async recordFailure(key) {
      const at = clock().toISOString();
      // Backoff is per account; an address is held by its attempt count alone, so one client's
      // typo does not slow every user behind the same address.
      const [account] = await rowKeys(key);
      if (account) {
        const updated = await sql<{ failures: number; next_allowed_at: Date | string }>`
          update warden_login_throttle set
            failures = failures + 1,
            next_allowed_at = case
              when failures + 1 > ${config.freeFailures}
                then ${at}::timestamptz + least(
                  ${config.backoffBaseMs}::float8 * power(2, failures - ${config.freeFailures}),
                  ${config.backoffMaxMs}::float8) * interval '1 millisecond'
              else next_allowed_at end
          where key = ${account.key}
          returning failures, next_allowed_at`.execute(db);
        const row = updated.rows[0];
        if (row && Number(row.failures) === config.freeFailures + 1) {
          return { lockedUntil: new Date(row.next_allowed_at) };
        }
      }
      return undefined;
    },

    async recordRefused() {},

    async recordSuccess(key) {
      const [account, address] = await rowKeys(key);
      if (!account) return;
      // One statement, one commit. Successes must not lock out many users behind one address (NAT),
      // yet must not reset it either: the address gets this attempt back. The account's row goes
      // first, as `checkLogin` takes them: the update reads the delete's count, so the delete runs
      // before it (an unread data-modifying CTE runs after the main statement, and the opposite
      // order deadlocked with a concurrent sign-in of the same account from the same address).
      if (address) {
        await sql`
          with cleared as (delete from warden_login_throttle where key = ${account.key} returning 1)
          update warden_login_throttle set attempts = greatest(attempts - 1, 0)
          where key = ${address.key} and (select count(*) from cleared) >= 0
          /* prepared:login_throttle_clear_both */`.execute(db);
      } else {
        await sql`delete from warden_login_throttle where key = ${account.key} /* prepared:login_throttle_clear_account */`.execute(
          db,
        );
      }
    },

    async sweep() {
      const expired = new Date(clock().getTime() - windowMs).toISOString();
      const result = await sql`
        delete from warden_login_throttle
        where window_start <= ${expired}::timestamptz and next_allowed_at <= ${clock().toISOString()}::timestamptz`.execute(
        db,
      );
      return Number(result.numAffectedRows ?? 0n);
    },
  };
}
