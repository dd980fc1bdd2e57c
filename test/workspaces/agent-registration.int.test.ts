import { createServer, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LooseJson, type SignedInUser, type TestApp, testApp } from '../support/app.ts';
import { freshPGlite } from '../support/databases.ts';

/** A server on 127.0.0.1 answering every request with `answer`, counting what it was asked. */
async function serve(answer: (res: import('node:http').ServerResponse) => void) {
  const asked: string[] = [];
  const server: Server = createServer((req, res) => {
    asked.push(`${req.method} ${req.url}`);
    req.resume();
    answer(res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  return { url, asked, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

/*
 * An agent's URL is its tenant's to set, and registering one makes Warden call it: the answer of
 * whatever is there must not come back to the tenant, Warden must not be sent on elsewhere, and a
 * cloud's metadata service is no agent.
 */
describe('registering an agent at an address that is no agent', () => {
  let t: TestApp;
  let admin: SignedInUser;
  const servers: { close(): Promise<void> }[] = [];
  beforeAll(async () => {
    t = await testApp(freshPGlite);
    admin = await t.user({ role: 'admin' });
  });
  afterAll(async () => {
    for (const server of servers) await server.close();
    await t?.dispose();
  });
  const register = async (url: string) => {
    const res = await t.request('/v1/agents', {
      token: admin.token,
      tenant: admin.tenantSlug,
      json: {
        name: `host-${crypto.randomUUID().slice(0, 6)}`,
        url,
        enrolment_token: 'enrolment-token-of-the-tenant',
        capacity: { cpus: 2, memory_mb: 1024, workspaces: 2 },
      },
    });
    return { status: res.status, body: (await res.json()) as LooseJson };
  };

  it('does not hand the tenant the body of what answered there', async () => {
    const page = await serve((res) =>
      res.writeHead(200, { 'content-type': 'text/html' }).end('<h1>INTERNAL-ONLY</h1>'),
    );
    servers.push(page);
    const answer = await register(page.url);
    expect(answer.status).toBe(422);
    expect(JSON.stringify(answer.body)).not.toContain('INTERNAL-ONLY');
    expect(answer.body.errors[0].message).toContain('200');
  });

  it('follows no redirect: a 303 to another address sends Warden nowhere', async () => {
    const target = await serve((res) => res.writeHead(200).end('metadata: secret-credentials'));
    servers.push(target);
    const bouncer = await serve((res) =>
      res.writeHead(303, { location: `${target.url}/latest/meta-data/` }).end(),
    );
    servers.push(bouncer);
    const answer = await register(bouncer.url);
    expect(answer.status).toBe(422);
    expect(bouncer.asked).toEqual(['POST /v1/enrol']);
    expect(target.asked).toEqual([]);
    expect(JSON.stringify(answer.body)).not.toContain('secret-credentials');
  });

  it('refuses a metadata, unspecified or credentialed address, or another scheme, with 400 naming url', async () => {
    for (const url of [
      'http://169.254.169.254',
      'http://169.254.169.254:7070/x',
      'http://[fe80::1]:7070',
      'http://0.0.0.0:7070',
      'http://user:pass@10.0.0.5:7070',
      'ftp://10.0.0.5/agent',
    ]) {
      const answer = await register(url);
      expect(answer.status, url).toBe(400);
      expect(
        answer.body.errors.map((e: LooseJson) => e.path),
        url,
      ).toEqual(['url']);
    }
  });
});
