import fc from 'fast-check';
import { Hono } from 'hono';
import { except } from 'hono/combine';
import { describe, expect, it } from 'vitest';
import { exceptPaths } from '../../src/http/middleware/index.ts';

// The app's path exceptions (what skips the body limit, tenant resolution, authentication,
// idempotency) as Hono's own `except` matched them: the same requests skip the same middleware.
const PATTERNS = [
  '/v1/tenants/*',
  '/v1/admin/*',
  '/v1/signup',
  '/oauth/*',
  '/v1/uploads/*',
  '/v1/images/builds',
];

/** Which of `paths` run the middleware behind `guard(PATTERNS, mark)`. */
async function marked(guard: typeof except | typeof exceptPaths, paths: readonly string[]) {
  const app = new Hono<{ Variables: { ran: boolean } }>();
  app.use(
    '*',
    (guard as typeof exceptPaths)(PATTERNS, async (c, next) => {
      c.set('ran', true);
      await next();
    }),
  );
  app.all('*', (c) => c.text(c.get('ran') ? 'ran' : 'skipped'));
  return Promise.all(paths.map(async (path) => (await app.request(`http://localhost${path}`)).text()));
}

const segment = fc.constantFrom(
  'v1',
  'tenants',
  'admin',
  'signup',
  'oauth',
  'uploads',
  'images',
  'builds',
  'x',
  'V1',
  '',
);
const path = fc.array(segment, { minLength: 0, maxLength: 5 }).map((parts) => `/${parts.join('/')}`);

describe('exceptPaths', () => {
  it('skips its middleware for exactly the requests Hono’s except skips', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(path, { minLength: 1, maxLength: 20 }), async (paths) => {
        expect(await marked(exceptPaths, paths)).toEqual(await marked(except, paths));
      }),
      { numRuns: 300 },
    );
  });

  it('skips prefixes and exact paths, runs everything else', async () => {
    expect(
      await marked(exceptPaths, [
        '/oauth',
        '/oauth/token',
        '/oauthx',
        '/v1/signup',
        '/v1/signup/x',
        '/v1/me',
      ]),
    ).toEqual(['skipped', 'skipped', 'ran', 'skipped', 'ran', 'ran']);
  });

  it('refuses a pattern it does not understand rather than matching it wrongly', () => {
    expect(() => exceptPaths(['/v1/:id'], async (_c, next) => next())).toThrow(/exact paths/);
    expect(() => exceptPaths(['/v1/*/x'], async (_c, next) => next())).toThrow(/exact paths/);
  });
});
