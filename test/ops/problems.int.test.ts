import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { problemCatalogue, problemCodes, problemType } from '../../src/http/kit/index.ts';
import { type LooseJson, type TestApp, testApp } from '../support/app.ts';
import { freshPGlite } from '../support/databases.ts';

describe('problem types Warden serves itself', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await testApp(freshPGlite);
  });
  afterAll(async () => {
    await t.dispose();
  });

  it('resolves every type a response can carry to a page: JSON for a program, HTML for a browser', async () => {
    // problemResponse and RequestError take only catalogue codes (a type), so this is every type.
    expect(problemCodes.length).toBeGreaterThan(30);
    for (const code of problemCodes) {
      const json = await t.request(problemType(code), { headers: { accept: 'application/json' } });
      expect(json.status, code).toBe(200);
      const body = (await json.json()) as LooseJson;
      expect(body).toMatchObject({ type: `/problems/${code}`, code, title: problemCatalogue[code].title });
      expect(body.statuses.length, code).toBeGreaterThan(0);
      const page = await t.request(problemType(code), { headers: { accept: 'text/html' } });
      expect(page.status, code).toBe(200);
      expect(page.headers.get('content-type')).toContain('text/html');
      expect(await page.text()).toContain(`<h1>`);
    }
    const index = (await (await t.request('/problems')).json()) as LooseJson;
    expect(index.items.map((p: LooseJson) => p.code)).toEqual(problemCodes);
  });

  it('names its own pages in the answers it gives, resolved against the URL called', async () => {
    const user = await t.user({ role: 'member' });
    const answers = [
      await t.request('/v1/projects', { tenant: user.tenantSlug }),
      await t.request('/v1/projects?sort=sideways', { token: user.token, tenant: user.tenantSlug }),
      await t.request('/v1/projects/NOPE', { token: user.token, tenant: user.tenantSlug }),
      await t.request('/nowhere'),
    ];
    const types = new Set<string>();
    for (const res of answers) {
      expect(res.headers.get('content-type')).toContain('application/problem+json');
      const problem = (await res.json()) as LooseJson;
      expect(problem.type).toMatch(/^\/problems\/[a-z-]+$/);
      types.add(problem.type);
      const resolved = new URL(problem.type, 'http://localhost/v1/projects');
      expect(resolved.pathname).toBe(problem.type);
      expect((await t.request(resolved.pathname)).status).toBe(200);
    }
    expect([...types].sort()).toEqual([
      '/problems/not-found',
      '/problems/unauthenticated',
      '/problems/validation',
    ]);
  });

  it('answers an unknown code with a problem+json 404, and escapes what it echoes', async () => {
    const res = await t.request('/problems/%3Cscript%3E', { headers: { accept: 'text/html' } });
    expect(res.status).toBe(404);
    expect(res.headers.get('content-type')).toContain('application/problem+json');
    expect(((await res.json()) as LooseJson).type).toBe('/problems/not-found');
  });
});
