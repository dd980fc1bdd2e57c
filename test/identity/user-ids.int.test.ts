import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { userIdFor, userStreamId } from '../../src/commands/identity/index.ts';
import { postgresEventStore } from '../../src/eventstore/postgres/store.ts';
import { aesKey } from '../../src/identity/tokens/crypto.ts';
import { keyedUserIdsFrom, personalDataStore } from '../../src/privacy/index.ts';
import { type TestApp, testApp } from '../support/app.ts';
import { freshPGlite } from '../support/databases.ts';
import { appendLegacyUser } from './legacy-users.ts';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const newKey = () => aesKey(crypto.getRandomValues(new Uint8Array(32)));

describe('keyed user ids', () => {
  it('follow from (tenant, email) under one key only, case-insensitively, as version 8 UUIDs', async () => {
    const tenant = crypto.randomUUID();
    const key = await newKey();
    const [a] = await (await keyedUserIdsFrom(key)).candidates(tenant, 'Ada@Example.com');
    const [again] = await (await keyedUserIdsFrom(key)).candidates(tenant, 'ada@example.com');
    const [other] = await (await keyedUserIdsFrom(await newKey())).candidates(tenant, 'ada@example.com');
    const [otherTenant] = await (await keyedUserIdsFrom(key)).candidates(
      crypto.randomUUID(),
      'ada@example.com',
    );
    expect(a).toMatch(UUID);
    expect(again).toBe(a);
    expect(other).not.toBe(a);
    expect(otherTenant).not.toBe(a);
    // Without the key, the email leads only to the unkeyed id, which is not the user's.
    expect(await userIdFor(tenant, 'ada@example.com')).not.toBe(a);
    const candidates = await (await keyedUserIdsFrom(key)).candidates(tenant, 'ada@example.com');
    expect(candidates).toEqual([a, await userIdFor(tenant, 'ada@example.com')]);
  });
});

describe('users registered before keyed ids (unkeyed ids, e.g. the bootstrap admin in an existing ./data)', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await testApp(freshPGlite);
  });
  afterAll(async () => {
    await t.dispose();
  });

  /** A user stored as before email claims, under the unkeyed derived id (as in an old ./data). */
  const legacy = async (tenantId: string, email: string, password: string) => {
    const userId = await userIdFor(tenantId, email);
    const raw = personalDataStore(postgresEventStore(t.database), t.personalData);
    await appendLegacyUser(raw, t.identity.hasher, { tenantId, userId, email, password, role: 'owner' });
    return { state: { userId } };
  };

  it('still sign in, keep their email (a new registration of it changes nothing), and a new user gets a random id', async () => {
    const { slug, id: tenantId } = await t.tenant();
    const password = `pw-${crypto.randomUUID()}`;
    const old = await legacy(tenantId, 'old@example.com', password);
    expect(old.state.userId).toBe(await userIdFor(tenantId, 'old@example.com'));
    const pair = await t.login(slug, 'OLD@example.com', password);
    const me = await t.request('/v1/me', { token: pair.access_token, tenant: slug });
    expect(((await me.json()) as { user_id: string }).user_id).toBe(old.state.userId);
    const taken = await t.request('/v1/auth/register', {
      tenant: slug,
      json: { email: 'old@example.com', password, name: 'Impostor' },
    });
    const fresh = await t.request('/v1/auth/register', {
      tenant: slug,
      json: { email: 'new@example.com', password, name: 'New' },
    });
    // Answered alike (so the answer does not tell which emails exist); only the new one registered.
    expect(taken.status).toBe(202);
    expect(fresh.status).toBe(202);
    expect(await taken.text()).toBe(await fresh.text());
    expect((await t.store.readStream(userStreamId(old.state.userId))).map((e) => e.type)).toEqual([
      'UserRegistered',
    ]);
    const { id } = await t.registered(tenantId, 'new@example.com');
    expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(id).not.toBe(await userIdFor(tenantId, 'new@example.com'));
    expect(id).not.toBe((await t.identity.userIds!.candidates(tenantId, 'new@example.com'))[0]);
    await t.verifyEmail(slug, 'new@example.com');
    await t.login(slug, 'new@example.com', password);
  });
});
