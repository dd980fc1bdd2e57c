import { Hono } from 'hono';
import { describe, expect, it } from 'vitest';
import type { AppEnv } from '../../src/http/kit/index.ts';
import { clientAddress } from '../../src/http/kit/index.ts';
import { forwardedProto } from '../../src/http/middleware/index.ts';

/** An app that answers what it saw: the request URL's scheme, the client address and the body. */
function seen(hops: number) {
  const app = new Hono<AppEnv>();
  app.use('*', forwardedProto(hops));
  const address = clientAddress(hops);
  app.all('*', async (c) =>
    c.json({ url: c.req.url, address: address(c) ?? null, body: await c.req.text() }),
  );
  return async (headers: Record<string, string>, init: RequestInit = {}) => {
    const res = await app.request('http://warden.test:8080/v1/thing?x=1', { ...init, headers });
    return (await res.json()) as { url: string; address: string | null; body: string };
  };
}

describe('forwarding headers from trusted proxies', () => {
  it('takes X-Forwarded-Proto from the nearest trusted hop, keeping host, port, path and query', async () => {
    expect((await seen(1)({ 'x-forwarded-proto': 'https' })).url).toBe(
      'https://warden.test:8080/v1/thing?x=1',
    );
    expect((await seen(1)({ 'x-forwarded-proto': 'HTTPS' })).url).toMatch(/^https:/);
    // Two proxies that append: the client's own claim (leftmost) is never read.
    expect((await seen(2)({ 'x-forwarded-proto': 'http, https, http' })).url).toMatch(/^https:/);
    expect((await seen(1)({ 'x-forwarded-proto': 'https, http' })).url).toMatch(/^http:/);
  });

  it('ignores X-Forwarded-Proto with no trusted proxy, a list shorter than the hops, or another scheme', async () => {
    expect((await seen(0)({ 'x-forwarded-proto': 'https' })).url).toMatch(/^http:/);
    expect((await seen(2)({ 'x-forwarded-proto': 'https' })).url).toMatch(/^http:/);
    expect((await seen(1)({ 'x-forwarded-proto': 'ftp' })).url).toMatch(/^http:/);
  });

  it('hands a rewritten request its body unread', async () => {
    const answer = await seen(1)({ 'x-forwarded-proto': 'https' }, { method: 'POST', body: 'a=1&b=2' });
    expect(answer).toMatchObject({ url: expect.stringMatching(/^https:/), body: 'a=1&b=2' });
  });

  it('reads the client address the same way from X-Forwarded-For', async () => {
    expect((await seen(1)({ 'x-forwarded-for': '192.0.2.1, 198.51.100.2' })).address).toBe('198.51.100.2');
    expect((await seen(2)({ 'x-forwarded-for': '192.0.2.1, 198.51.100.2' })).address).toBe('192.0.2.1');
    expect((await seen(0)({ 'x-forwarded-for': '192.0.2.1' })).address).toBeNull();
  });
});
