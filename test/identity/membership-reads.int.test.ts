import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { membershipStreamId, registerUser } from '../../src/commands/identity/index.ts';
import type { CommandStore } from '../../src/commands/kernel/index.ts';
import type { PasswordHasher } from '../../src/identity/passwords.ts';
import { type TestApp, testApp } from '../support/app.ts';
import { freshPGlite } from '../support/databases.ts';

/**
 * Every registration claims a seat on its tenant's membership stream, which grows by one event per
 * user. bench:scale found registrations slowing as tenants grew (23 a second at 40,000 users over 64
 * tenants, 14 at 60,000): each one read and folded the whole stream, copying the set of seats at every
 * event. The membership is kept between loads now, so a registration reads only what came since.
 */
describe('registration reads only the membership events it has not seen', () => {
  let t: TestApp;
  let hasher: PasswordHasher;
  beforeAll(async () => {
    t = await testApp(freshPGlite);
    // One hash for everyone: the registrations under test, not argon2, are what this measures.
    const hash = await t.identity.hasher.hash('plum-orbit-kettle-47');
    hasher = { ...t.identity.hasher, hash: async () => hash };
  });
  afterAll(async () => {
    await t?.dispose();
  });

  /** `t.store` (one process's store), counting the membership events each read hands back. */
  const counting = (tenantId: string) => {
    const read: number[] = [];
    const store: CommandStore = {
      ...t.store,
      readStream: async (streamId, options) => {
        const events = await t.store.readStream(streamId, options);
        if (streamId === membershipStreamId(tenantId)) read.push(events.length);
        return events;
      },
    };
    return { store, read };
  };
  let counter = 0;
  const register = (store: CommandStore, tenantId: string, maxUsers: number | null = null) =>
    registerUser(
      store,
      hasher,
      {
        tenantId,
        email: `seat-${counter++}@example.com`,
        name: 'Seat',
        password: 'plum-orbit-kettle-47',
        role: 'member',
        via: 'admin',
        maxUsers,
        defaultPolicy: 'open',
        at: new Date().toISOString(),
      },
      { metadata: { tenantId } },
    );

  it('reads the stream once, then only the events after it: the 40th seat reads none of the 39 before', async () => {
    const tenant = await t.tenant();
    const { store, read } = counting(tenant.id);
    for (let i = 0; i < 40; i++) await register(store, tenant.id);
    const perRegistration = read.slice(-5);
    expect(perRegistration.every((n) => n <= 1)).toBe(true);
    expect(read.reduce((a, b) => a + b, 0)).toBeLessThan(80);
  });

  it('still holds the plan’s user limit when another process claimed a seat since', async () => {
    const tenant = await t.tenant();
    const here = counting(tenant.id);
    for (let i = 0; i < 4; i++) await register(here.store, tenant.id, 6);
    // Another process (its own store object) takes the fifth seat: the kept state here is one behind.
    await register(t.store, tenant.id, 6);
    await register(here.store, tenant.id, 6);
    await expect(register(here.store, tenant.id, 6)).rejects.toMatchObject({
      detail: { rule: 'user_limit' },
    });
    const seats = await t.store.readStream(membershipStreamId(tenant.id));
    expect(seats.filter((e) => e.type === 'SeatClaimed')).toHaveLength(6);
  });
});
