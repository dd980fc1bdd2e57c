import { Validator } from '@seriousme/openapi-schema-validator';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type TestApp, testApp } from '../support/app.ts';
import { freshPGlite } from '../support/databases.ts';

/** Routes that are not part of the API the document describes (the docs UI itself). */
const UNDOCUMENTED = [/^\/docs(\/|$)/, /^\/openapi\.json$/];

describe('the API description', () => {
  let t: TestApp;
  let document: { openapi: string; paths: Record<string, Record<string, unknown>> };
  beforeAll(async () => {
    t = await testApp(freshPGlite);
    document = (await (await t.request('/openapi.json')).json()) as typeof document;
  });
  afterAll(() => t?.dispose());

  it('is a valid OpenAPI 3.1 document', async () => {
    expect(document.openapi).toBe('3.1.0');
    const result = await new Validator().validate(document as never);
    expect(result.errors ?? []).toEqual([]);
    expect(result.valid).toBe(true);
  });

  it('describes every route the app serves', () => {
    // A handler answers (c) => response; a middleware (c, next) only guards the routes under it.
    const served = t.app.routes
      .filter((r) => r.method !== 'ALL' && !r.path.includes('*') && r.handler.length < 2)
      .filter((r) => !UNDOCUMENTED.some((pattern) => pattern.test(r.path)))
      .map((r) => `${r.method.toLowerCase()} ${r.path.replace(/:([A-Za-z0-9_]+)/g, '{$1}')}`);
    const documented = new Set(
      Object.entries(document.paths).flatMap(([path, operations]) =>
        Object.keys(operations).map((m) => `${m} ${path}`),
      ),
    );
    const missing = [...new Set(served)].filter((route) => !documented.has(route));
    expect(missing).toEqual([]);
    expect(served.length).toBeGreaterThan(50);
  });

  it('serves the docs UI from this origin only', async () => {
    const page = await t.request('/docs');
    expect(page.status).toBe(200);
    const html = await page.text();
    const assets = [...html.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1]!);
    expect(assets.length).toBeGreaterThanOrEqual(3);
    for (const asset of assets) {
      expect(asset.startsWith('/'), asset).toBe(true);
      const res = await t.request(asset);
      expect(res.status, asset).toBe(200);
      expect((await res.arrayBuffer()).byteLength, asset).toBeGreaterThan(0);
    }
    expect((await t.request('/docs/assets/../../package.json')).status).toBe(404);
    expect((await t.request('/docs/assets/index.html')).status).toBe(404);
  });
});
