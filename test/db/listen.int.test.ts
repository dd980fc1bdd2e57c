import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestDatabase } from '../support/databases.ts';
import { databaseUrl, freshPostgres } from '../support/postgres.ts';

/**
 * `Database.listen` on PostgreSQL holds a connection of its own for its channel, and re-opens it when
 * it is lost (its documented promise): the job runners, the output streams and the nginx routes
 * are woken through it.
 */
describe.runIf(databaseUrl)('LISTEN on PostgreSQL (postgres)', () => {
  let t: TestDatabase;
  beforeAll(async () => {
    t = await freshPostgres(2);
  });
  afterAll(async () => {
    await t?.dispose();
  });

  const channel = `warden_listen_test_${crypto.randomUUID().replaceAll('-', '').slice(0, 12)}`;
  const notify = (payload: string) => sql`select pg_notify(${channel}, ${payload})`.execute(t.database.db);
  /** The backends listening on the channel (the listener's own connection). */
  const listeners = async () =>
    (
      await sql<{ pid: number }>`
        select pid from pg_stat_activity where query = ${`listen ${channel}`}`.execute(t.database.db)
    ).rows.map((row) => row.pid);
  const until = async (what: string, check: () => boolean | Promise<boolean>, ms = 10_000) => {
    const deadline = Date.now() + ms;
    while (!(await check())) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
  };

  it('hears notices, hears them again after its connection is killed, and stops for good', async () => {
    const heard: string[] = [];
    const stop = await t.database.listen(channel, (payload) => heard.push(payload));
    try {
      await notify('one');
      await until('the first notice', () => heard.includes('one'));
      const [first] = await listeners();
      expect(first).toBeTypeOf('number');

      // The server ends the listening connection (a restart, a failover, an idle killer).
      await sql`select pg_terminate_backend(${first})`.execute(t.database.db);
      // Re-opened on a new backend, it hears what is sent from then on.
      await until('a new listening backend', async () => {
        const now = await listeners();
        return now.length === 1 && now[0] !== first;
      });
      await notify('two');
      await until('the notice after the re-open', () => heard.includes('two'));
    } finally {
      await stop();
    }
    // Stopped: its connection is closed and nothing more is heard.
    await until('no listening backend', async () => (await listeners()).length === 0);
    await notify('three');
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(heard).toEqual(['one', 'two']);
  });
});
