import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ERASED, userStreamId } from '../../src/commands/identity/index.ts';
import { type TestApp, testApp } from '../support/app.ts';
import { freshPGlite } from '../support/databases.ts';

type Entry = {
  type: string;
  stream_id: string;
  actor_id: string | null;
  client_address: string | null;
  user_agent: string | null;
};

describe('audit metadata: the client address and User-Agent of every command', () => {
  let t: TestApp;
  let server: Awaited<ReturnType<TestApp['listening']>>;

  beforeAll(async () => {
    // One trusted proxy in front: the last X-Forwarded-For entry is what it saw.
    t = await testApp(freshPGlite, { env: { WARDEN_TRUSTED_PROXY_HOPS: '1' } });
    server = await t.listening();
  });
  afterAll(async () => {
    await server.close();
    await t.dispose();
  });

  const auditOf = async (token: string, tenant: string, stream: string, position: string) => {
    const res = await server.request(`/v1/audit?stream=${encodeURIComponent(stream)}`, {
      token,
      tenant,
      headers: { 'x-min-position': position },
    });
    expect(res.status, await res.clone().text()).toBe(200);
    return ((await res.json()) as { items: Entry[] }).items;
  };

  it('records the trusted hop’s address and a bounded User-Agent on a command, never the spoofed entry', async () => {
    const owner = await t.user({ role: 'owner' });
    const member = await t.user({ tenant: owner.tenantSlug });
    const res = await server.request(`/v1/users/${member.userId}`, {
      method: 'PATCH',
      json: { role: 'operator' },
      token: owner.token,
      tenant: owner.tenantSlug,
      headers: {
        'x-forwarded-for': '198.51.100.66, 203.0.113.7',
        'user-agent': `probe/1.0 ${'x'.repeat(1000)}`,
      },
    });
    expect(res.status).toBe(200);
    const entries = await auditOf(
      owner.token,
      owner.tenantSlug,
      userStreamId(member.userId),
      res.headers.get('x-position')!,
    );
    const changed = entries.find((e) => e.type === 'UserRoleChanged');
    expect(changed?.client_address).toBe('203.0.113.7');
    expect(changed?.user_agent?.startsWith('probe/1.0 xxx')).toBe(true);
    expect(changed?.user_agent).toHaveLength(256);
  });

  it('records the address and User-Agent of a sign-in on its session’s event', async () => {
    const owner = await t.user({ role: 'owner' });
    const res = await server.request('/v1/auth/login', {
      tenant: owner.tenantSlug,
      json: { email: owner.email, password: owner.password },
      headers: { 'x-forwarded-for': '203.0.113.9', 'user-agent': 'signin-agent/2' },
    });
    expect(res.status).toBe(200);
    const deadline = Date.now() + 5000;
    let issued: Entry | undefined;
    while (!issued && Date.now() < deadline) {
      const list = await server.request(`/v1/audit?type=TokenFamilyIssued&actor=${owner.userId}`, {
        token: owner.token,
        tenant: owner.tenantSlug,
      });
      expect(list.status, await list.clone().text()).toBe(200);
      issued = ((await list.json()) as { items: Entry[] }).items.find(
        (e) => e.user_agent === 'signin-agent/2',
      );
      if (!issued) await new Promise((r) => setTimeout(r, 50));
    }
    expect(issued?.client_address).toBe('203.0.113.9');
  });

  it('seals a person’s address and User-Agent with their key: stored nowhere in the clear, shown by the audit, erased with them', async () => {
    const owner = await t.user({ role: 'owner' });
    const alice = await t.user({ tenant: owner.tenantSlug });
    const tag = crypto.randomUUID().slice(0, 8);
    const agent = `alice-agent/${tag}`;
    const changed = await server.request('/v1/me', {
      method: 'PATCH',
      json: { username: `alice_${tag}` },
      token: alice.token,
      tenant: owner.tenantSlug,
      headers: { 'x-forwarded-for': '203.0.113.77', 'user-agent': agent },
    });
    expect(changed.status, await changed.clone().text()).toBe(200);
    const hers = async (position: string) =>
      (await auditOf(owner.token, owner.tenantSlug, userStreamId(alice.userId), position)).filter(
        (e) => e.actor_id === alice.userId,
      );
    expect(await hers(changed.headers.get('x-position')!)).toEqual([
      expect.objectContaining({ client_address: '203.0.113.77', user_agent: agent }),
    ]);

    // In the clear nowhere: not in the log, not in the audit's table (both hold it sealed).
    const clear = async (table: 'warden_events' | 'audit_entries') =>
      (
        await sql<{ n: number }>`select count(*)::int as n from ${sql.table(table)} r
          where r::text like ${`%${tag}%`} and r::text like ${'%alice-agent%'}`.execute(t.database.db)
      ).rows[0]!.n;
    expect(await clear('warden_events')).toBe(0);
    expect(await clear('audit_entries')).toBe(0);
    const stored = await sql<{ metadata: string }>`select metadata::text as metadata from warden_events
      where stream_id = ${userStreamId(alice.userId)} order by position desc limit 1`.execute(t.database.db);
    const metadata = JSON.parse(stored.rows[0]!.metadata) as Record<string, unknown>;
    expect(metadata).toMatchObject({ actorId: alice.userId, origin: { $personal: expect.any(Object) } });
    expect(metadata).not.toHaveProperty('clientAddress');
    expect(metadata).not.toHaveProperty('userAgent');

    // Erased: her origins read as erased; the owner's, on the erasure itself, stay.
    const erased = await server.request(`/v1/users/${alice.userId}/erase`, {
      method: 'POST',
      token: owner.token,
      tenant: owner.tenantSlug,
      headers: { 'x-forwarded-for': '203.0.113.78', 'user-agent': `owner-agent/${tag}` },
    });
    expect(erased.status, await erased.clone().text()).toBe(200);
    const position = ((await erased.json()) as { position: string }).position;
    expect(await hers(position)).toEqual([
      expect.objectContaining({ client_address: ERASED, user_agent: ERASED }),
    ]);
    const entries = await auditOf(owner.token, owner.tenantSlug, userStreamId(alice.userId), position);
    expect(entries.find((e) => e.type === 'PersonalDataErased')).toMatchObject({
      actor_id: owner.userId,
      client_address: '203.0.113.78',
      user_agent: `owner-agent/${tag}`,
    });
  });
});
