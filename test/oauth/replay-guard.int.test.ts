import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { replayGuard } from '../../src/oauth/replay-guard.ts';
import type { TestDatabase } from '../support/databases.ts';
import { databaseKinds } from '../support/postgres.ts';

describe.each(databaseKinds)('the one-time id guard ($name)', ({ fresh }) => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await fresh();
  });
  afterAll(() => db?.dispose());

  it('keeps an id for as long as the application’s clock says, whatever the database’s clock reads', async () => {
    // The application's clock an hour behind the database's (a skewed host, or a test's fixed clock):
    // the proof's expiry is computed on it, so it must be read on it too.
    let now = new Date(Date.now() - 3_600_000);
    const guard = replayGuard(db.database.db, () => now);
    const key = `dpop:${crypto.randomUUID()}`;
    const expires = () => new Date(now.getTime() + 120_000);
    expect(await guard.firstUse(key, expires())).toBe(true);
    expect(await guard.firstUse(key, expires())).toBe(false);
    expect(await guard.sweep()).toBe(0);
    expect(await guard.firstUse(key, expires())).toBe(false);
    // Once its expiry has passed on that clock, the id is forgotten and may be used again.
    now = new Date(now.getTime() + 121_000);
    expect(await guard.sweep()).toBe(1);
    expect(await guard.firstUse(key, expires())).toBe(true);
  });

  it('forgets an expired id on its next use even before a sweep', async () => {
    let now = new Date(Date.now() + 3_600_000);
    const guard = replayGuard(db.database.db, () => now);
    const key = `assertion:${crypto.randomUUID()}`;
    expect(await guard.firstUse(key, new Date(now.getTime() + 60_000))).toBe(true);
    now = new Date(now.getTime() + 60_000);
    expect(await guard.firstUse(key, new Date(now.getTime() + 60_000))).toBe(true);
    expect(await guard.firstUse(key, new Date(now.getTime() + 60_000))).toBe(false);
  });
});
