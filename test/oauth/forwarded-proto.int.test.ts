import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type HttpServer, listen } from '../../src/runtime/index.ts';
import { type LooseJson, type SignedInUser, type TestApp, testApp } from '../support/app.ts';
import { freshPGlite } from '../support/databases.ts';
import { pkce, REDIRECT } from './support.ts';

/**
 * Finding 9b: behind a TLS-terminating proxy the socket is plain HTTP, but the client spoke HTTPS.
 * With trusted proxies, X-Forwarded-Proto (from the nearest trusted hop) makes the request https:
 * issuers say https:// and cookies get Secure. Without trusted proxies the header is the client's own
 * word and is ignored. Over real HTTP.
 */
for (const hops of [1, 0]) {
  describe(`X-Forwarded-Proto with WARDEN_TRUSTED_PROXY_HOPS=${hops}`, () => {
    let t: TestApp;
    let server: HttpServer;
    let origin: string;
    let slug: string;
    let client: LooseJson;
    let owner: SignedInUser;

    beforeAll(async () => {
      t = await testApp(freshPGlite, { env: { WARDEN_TRUSTED_PROXY_HOPS: String(hops) } });
      server = await listen(t.app.fetch, { port: 0, hostname: '127.0.0.1' });
      origin = `127.0.0.1:${server.port}`;
      slug = (await t.tenant()).slug;
      owner = await t.user({ tenant: slug, role: 'owner' });
      const res = await t.request(`/t/${slug}/v1/oauth/clients`, {
        token: owner.token,
        json: {
          name: 'Web app',
          redirect_uris: [REDIRECT],
          grant_types: ['authorization_code'],
          scopes: ['openid'],
        },
      });
      expect(res.status).toBe(201);
      client = (await res.json()) as LooseJson;
    });
    afterAll(async () => {
      await server?.close(1000);
      await t?.dispose();
    });

    const viaProxy = (path: string, proto?: string, init: { cookie?: string; form?: URLSearchParams } = {}) =>
      fetch(`http://${origin}${path}`, {
        redirect: 'manual',
        method: init.form ? 'POST' : 'GET',
        headers: {
          'x-forwarded-for': '198.51.100.4',
          ...(proto ? { 'x-forwarded-proto': proto } : {}),
          ...(init.cookie ? { cookie: init.cookie } : {}),
          ...(init.form ? { 'content-type': 'application/x-www-form-urlencoded' } : {}),
        },
        ...(init.form ? { body: init.form.toString() } : {}),
      });
    const secure = (cookie: string) => /;\s*Secure/i.test(cookie);
    const expected = hops > 0 ? 'https' : 'http';

    it(`${hops > 0 ? 'names' : 'does not name'} an https:// issuer in discovery when the proxy says https`, async () => {
      const res = await viaProxy(`/.well-known/openid-configuration/t/${slug}`, 'https');
      expect(res.status).toBe(200);
      const metadata = (await res.json()) as LooseJson;
      expect(metadata.issuer).toBe(`${expected}://${origin}/t/${slug}`);
      expect(metadata.authorization_endpoint).toBe(`${expected}://${origin}/t/${slug}/oauth/authorize`);
    });

    it(`${hops > 0 ? 'marks' : 'does not mark'} the CSRF and session cookies Secure when the proxy says https`, async () => {
      const { challenge } = pkce();
      const query = new URLSearchParams({
        response_type: 'code',
        client_id: client.client_id,
        redirect_uri: REDIRECT,
        scope: 'openid',
        state: 'state-1',
        code_challenge: challenge,
        code_challenge_method: 'S256',
      });
      const res = await viaProxy(`/t/${slug}/oauth/authorize?${query}`, 'https');
      expect(res.status).toBe(200);
      const cookies = res.headers.getSetCookie();
      expect(cookies.length).toBeGreaterThan(0);
      for (const cookie of cookies) expect(secure(cookie)).toBe(hops > 0);

      // Signing in (a form POST: its body passes through the rewritten request) sets the session cookie.
      const html = await res.text();
      const action = /<form method="post" action="([^"]+)"/.exec(html)?.[1] ?? '';
      const hidden = (name: string) => new RegExp(`name="${name}" value="([^"]*)"`).exec(html)?.[1] ?? '';
      const signedIn = await viaProxy(action, 'https', {
        cookie: cookies.map((c) => c.split(';')[0]).join('; '),
        form: new URLSearchParams({
          interaction: hidden('interaction'),
          csrf: hidden('csrf'),
          email: owner.email,
          password: owner.password,
        }),
      });
      expect(signedIn.status).toBeLessThan(400);
      const session = signedIn.headers.getSetCookie();
      expect(session.length).toBeGreaterThan(0);
      for (const cookie of session) expect(secure(cookie)).toBe(hops > 0);
    });

    it('keeps the socket scheme when the proxy says nothing, or something other than http/https', async () => {
      for (const proto of [undefined, 'gopher']) {
        const res = await viaProxy(`/.well-known/openid-configuration/t/${slug}`, proto);
        expect(((await res.json()) as LooseJson).issuer).toBe(`http://${origin}/t/${slug}`);
      }
    });
  });
}
