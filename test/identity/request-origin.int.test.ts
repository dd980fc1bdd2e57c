import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { userStreamId } from '../../src/commands/identity/index.ts';
import { type TestApp, testApp } from '../support/app.ts';
import { freshPGlite } from '../support/databases.ts';

type Entry = { type: string; stream_id: string; client_address: string | null; user_agent: string | null };

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
});
