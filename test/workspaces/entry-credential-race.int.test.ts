import type { Kysely } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WorkspaceAccess } from '../../src/workspaces/access.ts';
import type { TestDatabase } from '../support/databases.ts';
import { databaseKinds } from '../support/postgres.ts';

/**
 * A workspace link is checked (`mayEnter`: the user still active, no password change since the link
 * was made) before the statement that turns it into a session. A password change that lands between
 * the two is not seen by the entry; what it must not do is leave a session that outlives it. The race
 * is made here on purpose, deterministically: `mayEnter` is the one dependency given by the test (the
 * real one reads the user's stream), answering the entry's check as it stood before the change and
 * every later check as it stands after.
 */
describe.each(databaseKinds)('a password change racing a workspace entry ($name)', ({ fresh }) => {
  let test: TestDatabase;
  beforeAll(async () => {
    test = await fresh();
  }, 120_000);
  afterAll(() => test?.dispose());

  it('the session carries the link’s moment: a change after the link refuses it at its first use', async () => {
    let now = new Date('2026-12-05T12:00:00Z');
    const clock = () => now;
    let changedAt: Date | undefined;
    let checks = 0;
    const access = new WorkspaceAccess({
      db: test.database.db as Kysely<unknown>,
      clock,
      sessionTtlMs: 3_600_000,
      // The entry's check (the first) ran before the change was seen; every later one after.
      mayEnter: async (_tenant, _user, since) => {
        checks++;
        return checks === 1 || changedAt === undefined || since.getTime() >= changedAt.getTime();
      },
    });
    const grant = {
      tenantId: crypto.randomUUID(),
      workspaceId: crypto.randomUUID(),
      userId: crypto.randomUUID(),
    };
    const ticket = await access.ticket(grant, new Date(now.getTime() + 60_000));

    now = new Date(now.getTime() + 10_000);
    changedAt = now; // the password changes while the entry runs
    now = new Date(now.getTime() + 1);
    const entered = await access.enter(ticket);
    expect(entered).toBeDefined(); // its check saw the user as before the change

    now = new Date(now.getTime() + 1_000);
    expect(await access.check(entered!.session, grant.workspaceId)).toBeUndefined();
  });

  it('a session whose link came after the change goes on as before', async () => {
    let now = new Date('2026-12-05T13:00:00Z');
    const changedAt = new Date(now.getTime() - 60_000);
    const access = new WorkspaceAccess({
      db: test.database.db as Kysely<unknown>,
      clock: () => now,
      sessionTtlMs: 3_600_000,
      mayEnter: async (_tenant, _user, since) => since.getTime() >= changedAt.getTime(),
    });
    const grant = {
      tenantId: crypto.randomUUID(),
      workspaceId: crypto.randomUUID(),
      userId: crypto.randomUUID(),
    };
    const entered = await access.enter(await access.ticket(grant, new Date(now.getTime() + 60_000)));
    expect(entered).toBeDefined();
    now = new Date(now.getTime() + 1_000);
    expect(await access.check(entered!.session, grant.workspaceId)).toEqual(grant);
  });
});
