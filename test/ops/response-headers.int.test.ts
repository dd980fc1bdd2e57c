import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type HttpServer, listen } from '../../src/runtime/index.ts';
import { type SignedInUser, type TestApp, testApp } from '../support/app.ts';
import { freshPGlite } from '../support/databases.ts';

/**
 * Headers middleware adds after the handler (secure headers, RateLimit-*) reach the client over real
 * HTTP on Node, not only through `app.request()`: the request id set last must not rebuild the
 * response from its first headers.
 */
describe('response headers over real HTTP', () => {
  let t: TestApp;
  let server: HttpServer;
  let base: string;
  let user: SignedInUser;

  beforeAll(async () => {
    t = await testApp(freshPGlite);
    server = await listen(t.app.fetch, { port: 0, hostname: '127.0.0.1' });
    base = `http://127.0.0.1:${server.port}`;
    user = await t.user();
  });
  afterAll(async () => {
    await server?.close(1000);
    await t?.dispose();
  });

  it('sends the secure headers, the rate-limit headers and the request id on a JSON answer and on a problem', async () => {
    for (const path of ['/v1/me', '/v1/no-such-thing']) {
      const res = await fetch(`${base}${path}`, {
        headers: { 'x-tenant': user.tenantSlug, authorization: `Bearer ${user.token}` },
      });
      await res.body?.cancel();
      expect(res.headers.get('x-frame-options'), path).toBe('DENY');
      expect(res.headers.get('x-content-type-options'), path).toBe('nosniff');
      expect(res.headers.get('ratelimit-limit'), path).toMatch(/^\d+$/);
      expect(res.headers.get('x-request-id'), path).toMatch(/\S/);
    }
  });
});
