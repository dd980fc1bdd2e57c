import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type TestApp, testApp } from '../support/app.ts';
import { freshPGlite } from '../support/databases.ts';

describe('HTTP edges: CORS from configuration and request timeouts', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await testApp(freshPGlite, {
      env: {
        WARDEN_CORS_ORIGINS: 'https://app.example.com, https://admin.example.com',
        WARDEN_REQUEST_TIMEOUT_MS: '200',
      },
    });
    // A route that hangs, mounted only in this test, to show what a hanging handler answers.
    t.app.get('/v1/admin/test-slow', async (c) => {
      await new Promise((resolve) => setTimeout(resolve, 1000));
      return c.json({ late: true });
    });
  });
  afterAll(async () => {
    await t?.dispose();
  });

  it('answers a preflight from a configured origin, and names no origin for another', async () => {
    const allowed = await t.request('/v1/me', {
      method: 'OPTIONS',
      headers: {
        origin: 'https://app.example.com',
        'access-control-request-method': 'GET',
        'access-control-request-headers': 'authorization, x-tenant',
      },
    });
    expect(allowed.status).toBe(204);
    expect(allowed.headers.get('access-control-allow-origin')).toBe('https://app.example.com');
    expect(allowed.headers.get('access-control-allow-headers')?.toLowerCase()).toContain('authorization');
    const other = await t.request('/v1/me', {
      method: 'OPTIONS',
      headers: { origin: 'https://evil.example.com', 'access-control-request-method': 'GET' },
    });
    expect(other.headers.get('access-control-allow-origin')).toBeNull();
  });

  it('exposes the headers a browser client needs on real responses', async () => {
    const res = await t.request('/v1/me', { headers: { origin: 'https://admin.example.com' } });
    expect(res.headers.get('access-control-allow-origin')).toBe('https://admin.example.com');
    expect(res.headers.get('access-control-expose-headers')).toContain('X-Request-Id');
  });

  it('sends security headers on every answer, problems included', async () => {
    for (const path of ['/health', '/v1/me', '/v1/no-such-route']) {
      const res = await t.request(path);
      expect(res.headers.get('x-content-type-options'), path).toBe('nosniff');
      // Nothing Warden serves is meant to be framed (the OAuth sign-in and consent pages least of all).
      expect(res.headers.get('x-frame-options'), path).toBe('DENY');
      expect(res.headers.get('strict-transport-security'), path).toContain('max-age=');
      expect(res.headers.get('referrer-policy'), path).toBe('no-referrer');
    }
  });

  it('refuses a body over WARDEN_BODY_LIMIT_BYTES with 413 problem+json, before any handler', async () => {
    const res = await t.request('/v1/auth/register', {
      tenant: (await t.tenant()).slug,
      json: { email: 'big@example.com', password: 'x'.repeat(100), name: 'n'.repeat(100 * 1024) },
    });
    expect(res.status).toBe(413);
    expect(res.headers.get('content-type')).toBe('application/problem+json');
    expect(await t.store.readAll()).not.toContainEqual(expect.objectContaining({ type: 'UserRegistered' }));
  });

  it('answers 503 problem+json when a handler runs past WARDEN_REQUEST_TIMEOUT_MS', async () => {
    const res = await t.request('/v1/admin/test-slow');
    expect(res.status).toBe(503);
    expect(res.headers.get('content-type')).toBe('application/problem+json');
    expect(((await res.json()) as { detail: string }).detail).toContain('200 ms');
  });
});

describe('without WARDEN_CORS_ORIGINS', () => {
  it('sends no CORS headers at all', async () => {
    const t = await testApp(freshPGlite);
    try {
      const res = await t.request('/v1/me', {
        method: 'OPTIONS',
        headers: { origin: 'https://app.example.com', 'access-control-request-method': 'GET' },
      });
      expect(res.headers.get('access-control-allow-origin')).toBeNull();
    } finally {
      await t.dispose();
    }
  });
});
