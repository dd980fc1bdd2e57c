import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WARDEN_VERSION } from '../../src/http/ops/index.ts';
import { type TestApp, testApp } from '../support/app.ts';
import { freshPGlite } from '../support/databases.ts';

const BROWSER = 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8';

describe('the start page', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await testApp(freshPGlite);
  });
  afterAll(async () => {
    await t.dispose();
  });

  it('reports the version package.json names', () => {
    const pkg = JSON.parse(readFileSync('package.json', 'utf8')) as { version: string };
    expect(WARDEN_VERSION).toBe(pkg.version);
  });

  it('serves a browser a small HTML page: what runs, the version, links to docs, health and metrics', async () => {
    const res = await t.request('/', { headers: { accept: BROWSER } });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/html');
    expect(res.headers.get('vary')).toContain('Accept');
    const html = await res.text();
    expect(html).toContain(`Warden ${WARDEN_VERSION}`);
    for (const href of ['/docs', '/health', '/ready', '/metrics', '/openapi.json', '/problems']) {
      expect(html).toContain(`href="${href}"`);
    }
    expect(html).toContain('Event store: PGlite');
    expect(html).toContain('README.md#configuration');
    expect(html).not.toMatch(/<script/i);
  });

  it('answers JSON to anything that does not ask for HTML (no Accept, */*, application/json)', async () => {
    for (const accept of [undefined, '*/*', 'application/json', 'application/json, text/html;q=0.5']) {
      const res = await t.request('/', accept ? { headers: { accept } } : {});
      expect(res.status, accept).toBe(200);
      expect(res.headers.get('content-type'), accept).toContain('application/json');
      const body = (await res.json()) as Record<string, unknown>;
      expect(body).toMatchObject({
        name: 'Warden',
        version: WARDEN_VERSION,
        runs: { database: 'PGlite', event_store: 'PGlite', workers_in_process: true },
      });
      expect((body.links as { href: string }[]).map((l) => l.href)).toContain('/docs');
    }
  });

  it('is the only new answer at the root: other unknown paths stay problem+json 404s', async () => {
    const res = await t.request('/nothing-here', { headers: { accept: BROWSER } });
    expect(res.status).toBe(404);
    expect(res.headers.get('content-type')).toContain('application/problem+json');
    expect((await t.request('/', { method: 'POST', json: {} })).status).toBe(404);
  });
});
