import { request as httpRequest } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listen } from '../../src/runtime/index.ts';
import { type LooseJson, testApp } from '../support/app.ts';
import { databaseKinds } from '../support/postgres.ts';

type App = Awaited<ReturnType<typeof testApp>>;
interface Answer {
  status: number;
  body: LooseJson;
}

/**
 * Security finding 1 (custom-domain takeover), over a real listening server: a tenant owner must not
 * be able to take another tenant's subdomain or the platform's host as a custom domain, and a custom
 * domain serves nobody until the tenant has proven it controls the name's DNS.
 */
for (const kind of databaseKinds) {
  describe(`custom domains cannot take over other hosts (${kind.name})`, () => {
    let t: App;
    let server: Awaited<ReturnType<typeof listen>>;

    beforeAll(async () => {
      t = await testApp(kind.fresh, { env: { WARDEN_PUBLIC_URL: 'https://platform.example.com' } });
      server = await listen(t.app.fetch, { port: 0, hostname: '127.0.0.1' });
    });
    afterAll(async () => {
      await server?.close(1000);
      await t?.dispose();
    });

    /** One request to the listening server with the Host header a browser on `host` would send. */
    const at = (
      host: string,
      path: string,
      init: { method?: string; json?: unknown; token?: string } = {},
    ): Promise<Answer> =>
      new Promise((resolve, reject) => {
        const body = init.json === undefined ? undefined : JSON.stringify(init.json);
        const req = httpRequest(
          {
            host: '127.0.0.1',
            port: server.port,
            path,
            method: init.method ?? (body === undefined ? 'GET' : 'POST'),
            headers: {
              host,
              ...(body === undefined ? {} : { 'content-type': 'application/json' }),
              ...(init.token ? { authorization: `Bearer ${init.token}` } : {}),
            },
          },
          (res) => {
            const chunks: Buffer[] = [];
            res.on('data', (chunk: Buffer) => chunks.push(chunk));
            res.on('end', () => {
              const text = Buffer.concat(chunks).toString();
              let parsed: LooseJson = {};
              try {
                parsed = text ? (JSON.parse(text) as LooseJson) : {};
              } catch {
                parsed = { text };
              }
              resolve({ status: res.statusCode ?? 0, body: parsed });
            });
          },
        );
        req.on('error', reject);
        req.end(body);
      });

    it("refuses another tenant's subdomain and the platform's hosts, and serves a custom domain only once its TXT record proves it", async () => {
      const acme = await t.tenant();
      const globex = await t.tenant();
      const acmeHost = `${acme.slug}.warden.test`;
      const acmeUser = await t.register({ tenantId: acme.id });
      const globexOwner = await t.user({ tenant: globex.slug, role: 'owner' });
      const signInOnAcme = () =>
        at(acmeHost, '/v1/auth/login', { json: { email: acmeUser.email, password: acmeUser.password } });

      // acme as it should stay: its users sign in on its subdomain, which is its own issuer.
      expect((await signInOnAcme()).status).toBe(200);
      const acmeKeys = (await at('127.0.0.1', `/t/${acme.slug}/oauth/jwks`)).body.keys;
      const globexKeys = (await at('127.0.0.1', `/t/${globex.slug}/oauth/jwks`)).body.keys;
      expect(acmeKeys).not.toEqual(globexKeys);

      const addDomain = (domain: string) =>
        at('127.0.0.1', `/v1/tenants/${globex.id}/domains`, {
          json: { domain },
          token: globexOwner.token,
        });
      for (const taken of [acmeHost, `${acmeHost.toUpperCase()}.`, 'warden.test', 'platform.example.com']) {
        const refused = await addDomain(taken);
        expect(refused.status, `${taken}: ${JSON.stringify(refused.body)}`).toBe(422);
        expect(refused.body.errors[0].path, taken).toBe('domain');
      }

      // acme's subdomain is still acme's: sign-in, discovery and keys.
      expect((await signInOnAcme()).status).toBe(200);
      const discovery = await at(acmeHost, '/.well-known/openid-configuration');
      expect(discovery.status).toBe(200);
      expect(discovery.body.issuer).toBe(`http://${acmeHost}`);
      expect((await at(acmeHost, '/oauth/jwks')).body.keys).toEqual(acmeKeys);

      // A name globex may hold, but only once it proves it: pending until the TXT record is there.
      const added = await addDomain('login.example.com');
      expect(added.status, JSON.stringify(added.body)).toBe(201);
      expect(added.body).toMatchObject({
        domain: 'login.example.com',
        status: 'pending',
        verification: { type: 'TXT', name: '_warden-challenge.login.example.com' },
      });
      const token = added.body.verification.value as string;
      expect(token).toMatch(/^[A-Za-z0-9_-]{32,}$/);
      expect((await at('login.example.com', '/.well-known/openid-configuration')).status).toBe(404);
      expect((await at('login.example.com', '/oauth/jwks')).status).toBe(404);

      const verify = () =>
        at('127.0.0.1', `/v1/tenants/${globex.id}/domains/login.example.com/verify`, {
          method: 'POST',
          token: globexOwner.token,
        });
      const missing = await verify();
      expect(missing.status).toBe(409);
      expect(missing.body.detail).toContain('_warden-challenge.login.example.com');
      expect(missing.body.detail).toContain(token);
      t.dns.set('_warden-challenge.login.example.com', [['someone-else']]);
      const wrong = await verify();
      expect(wrong.status).toBe(409);
      expect(wrong.body.detail).toContain('someone-else');
      expect((await at('login.example.com', '/oauth/jwks')).status).toBe(404);

      t.dns.set('_warden-challenge.login.example.com', [
        ['someone-else'],
        [token.slice(0, 10), token.slice(10)],
      ]);
      const verified = await verify();
      expect(verified.status, JSON.stringify(verified.body)).toBe(200);
      expect(verified.body).toMatchObject({ domain: 'login.example.com', status: 'verified' });
      const again = await verify();
      expect(again.status).toBe(200);
      expect(again.body.position).toBe(verified.body.position);

      await t.engine.waitFor(['tenantDomains'], BigInt(verified.body.position), 5000);
      const served = await at('login.example.com', '/.well-known/openid-configuration');
      expect(served.status).toBe(200);
      expect(served.body.issuer).toBe('http://login.example.com');
      expect((await at('login.example.com', '/oauth/jwks')).body.keys).toEqual(globexKeys);
      // …and acme is untouched.
      expect((await signInOnAcme()).status).toBe(200);
      expect((await at(acmeHost, '/oauth/jwks')).body.keys).toEqual(acmeKeys);
    });
  });
}
