import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { oauthFixture } from '../oauth/support.ts';
import { type LooseJson, type SignedInUser, type TestApp, testApp } from '../support/app.ts';
import { databaseKinds } from '../support/postgres.ts';
import { lastWritten } from '../support/visibility.ts';

const fixture = (file: string) =>
  readFileSync(join(import.meta.dirname, 'fixtures', 'lockfiles', file), 'utf8');

const LIMIT = 256 * 1024;

for (const kind of databaseKinds) {
  describe(`pnpm and Yarn lockfiles over HTTP (${kind.name})`, () => {
    let t: TestApp;
    let server: Awaited<ReturnType<TestApp['listening']>>;
    let member: SignedInUser;
    let outsider: SignedInUser;

    /** POSTs a lockfile's text over real HTTP, as `curl --data-binary @pnpm-lock.yaml` would. */
    const submit = async (
      user: SignedInUser,
      body: string,
      options: { type?: string; query?: string; headers?: Record<string, string> } = {},
    ) => {
      const res = await server.request(`/v1/package-requests${options.query ?? ''}`, {
        method: 'POST',
        token: user.token,
        tenant: user.tenantSlug,
        headers: { 'content-type': options.type ?? 'application/yaml', ...options.headers },
        body,
      });
      const text = await res.text();
      return {
        status: res.status,
        headers: res.headers,
        type: res.headers.get('content-type'),
        body: (text ? JSON.parse(text) : {}) as LooseJson,
      };
    };
    const read = async (user: SignedInUser, path: string, position?: string) => {
      const res = await server.request(path, {
        token: user.token,
        tenant: user.tenantSlug,
        ...(position ? { headers: { 'x-min-position': position } } : {}),
      });
      return { status: res.status, body: (await res.json()) as LooseJson };
    };
    const eventCount = async () => Number(await lastWritten(t.database.db));

    beforeAll(async () => {
      t = await testApp(kind.fresh, { env: { WARDEN_LOCKFILE_LIMIT_BYTES: String(LIMIT) } });
      server = await t.listening();
      const { slug } = await t.tenant();
      member = await t.user({ tenant: slug, role: 'member' });
      outsider = await t.user({ role: 'owner' });
    });
    afterAll(async () => {
      await server?.close();
      await t?.dispose();
    });

    it.each([
      ['pnpm-lock-v6.yaml', 'application/yaml', 'pnpm-lock', 6],
      ['pnpm-lock-v9.yaml', 'text/yaml; charset=utf-8', 'pnpm-lock', 9],
      ['yarn-v1.lock', 'text/plain', 'yarn-classic', 1],
      ['yarn-berry.lock', 'text/plain; charset=utf-8', 'yarn-berry', 10],
    ] as const)(
      'accepts %s sent as %s: 202, the packages, the folders it will not fetch',
      async (file, type, format, version) => {
        const res = await submit(member, fixture(file), { type });
        expect(res.status, JSON.stringify(res.body)).toBe(202);
        expect(res.body).toMatchObject({ status: 'received', packages_total: 7 });
        expect(res.body.unsupported.map((u: LooseJson) => u.name)).toEqual(['local-lib', 'local-tgz']);
        const view = await read(member, `/v1/package-requests/${res.body.id}`, res.body.position);
        expect(view.status).toBe(200);
        expect(view.body).toMatchObject({
          lockfile_format: format,
          lockfile_version: version,
          packages_total: 7,
        });
        const debug = (view.body.packages as LooseJson[]).find((p) => p.spec === 'debug@2.6.9');
        // pnpm records dev dependencies; a yarn.lock does not (they live in package.json).
        expect(debug!.dev).toBe(format === 'pnpm-lock');
        // Another tenant's request is not found.
        expect((await read(outsider, `/v1/package-requests/${res.body.id}`)).status).toBe(404);
      },
    );

    it('the package-lock.json of the same project still arrives as JSON and reads as before', async () => {
      const res = await submit(member, fixture('lock-v3.json'), { type: 'application/json' });
      expect(res.status).toBe(202);
      const view = await read(member, `/v1/package-requests/${res.body.id}`, res.body.position);
      expect(view.body).toMatchObject({ lockfile_format: 'package-lock', lockfile_version: 3 });
    });

    it('?format= names the kind; a wrong or unknown one is refused with the field named, appending nothing', async () => {
      const named = await submit(member, fixture('yarn-berry.lock'), { query: '?format=yarn' });
      expect(named.status).toBe(202);
      const before = await eventCount();
      const unknown = await submit(member, fixture('yarn-berry.lock'), { query: '?format=bun' });
      expect(unknown.status).toBe(400);
      expect(unknown.body.errors.map((e: LooseJson) => e.path)).toContain('query.format');
      const wrong = await submit(member, fixture('yarn-berry.lock'), { query: '?format=pnpm' });
      expect(wrong.status).toBe(422);
      expect(wrong.type).toContain('application/problem+json');
      expect(wrong.body.errors[0].path).toBe('lockfileVersion');
      const neither = await submit(member, 'just: some yaml\n');
      expect(neither.status).toBe(422);
      expect(await eventCount()).toBe(before);
    });

    it.each([
      [
        'pnpm',
        `${fixture('pnpm-lock-v9.yaml')}\n  ../../etc@file:evil:\n    resolution: {directory: evil, type: directory}\n`,
        'snapshots.../../etc@file:evil.name',
      ],
      [
        'Yarn v1',
        `${fixture('yarn-v1.lock')}\n"../../etc@file:./evil":\n  version "1.0.0"\n`,
        '../../etc@file:./evil.name',
      ],
      [
        'Yarn Berry',
        `${fixture('yarn-berry.lock')}\n"../../etc@file:./evil":\n  version: 1.0.0\n  resolution: "../../etc@file:./evil#./evil"\n`,
        '../../etc@file:./evil.name',
      ],
    ])(
      '%s: a path-traversal name whose source is unsupported anyway is a 422 naming it, appending nothing',
      async (_, body, path) => {
        const before = await eventCount();
        const res = await submit(member, body);
        expect(res.status).toBe(422);
        expect(res.type).toContain('application/problem+json');
        expect(res.body.errors.map((e: LooseJson) => e.path)).toEqual([path]);
        expect(await eventCount()).toBe(before);
      },
    );

    it('abuse: over the size cap is 413, a YAML bomb and duplicate keys are 422, another media type 415; nothing appended and the service stays up', async () => {
      const before = await eventCount();
      const entries = Array.from(
        { length: 6000 },
        (_, i) => `  p${i}@1.0.0:\n    resolution: {integrity: sha512-${'A'.repeat(86)}==}\n`,
      );
      const huge = await submit(member, `lockfileVersion: '9.0'\n\npackages:\n${entries.join('\n')}`);
      expect(huge.status).toBe(413);
      expect(huge.type).toContain('application/problem+json');
      expect(huge.body.detail).toContain(String(LIMIT));

      const bomb = ["lockfileVersion: '9.0'", 'a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]'];
      for (let i = 1; i < 40; i++)
        bomb.push(
          `a${i}: &a${i} [${Array(9)
            .fill(`*a${i - 1}`)
            .join(', ')}]`,
        );
      const exploded = await submit(member, `${bomb.join('\n')}\n`);
      expect(exploded.status).toBe(422);
      expect(exploded.body.errors[0].message).toMatch(/anchors or aliases/);

      const duplicated = await submit(
        member,
        fixture('pnpm-lock-v9.yaml').replace(
          '  ms@2.0.0: {}\n',
          '  ms@2.0.0: {}\n\n  ms@2.0.0:\n    optional: true\n',
        ),
      );
      expect(duplicated.status).toBe(422);
      expect(duplicated.body.errors[0].message).toMatch(/repeats a key/);

      const xml = await submit(member, '<lockfile/>', { type: 'application/xml' });
      expect(xml.status).toBe(415);
      expect(xml.body.errors[0].path).toBe('header.content-type');
      expect(await eventCount()).toBe(before);
      expect((await read(member, '/v1/package-requests?limit=1')).status).toBe(200);
    });

    it('abuse: a replay with the same Idempotency-Key answers the first response and submits once', async () => {
      const key = crypto.randomUUID();
      const first = await submit(member, fixture('pnpm-lock-v9.yaml'), {
        headers: { 'idempotency-key': key },
      });
      const again = await submit(member, fixture('pnpm-lock-v9.yaml'), {
        headers: { 'idempotency-key': key },
      });
      expect(first.status).toBe(202);
      expect(again.status).toBe(202);
      expect(again.body.id).toBe(first.body.id);
      expect(again.headers.get('idempotent-replayed')).toBe('true');
      const other = await submit(member, fixture('yarn-v1.lock'), {
        type: 'text/plain',
        headers: { 'idempotency-key': key },
      });
      expect(other.status).toBe(422);
    });

    it('abuse: a flood of lockfiles from one tenant stops at its monthly package requests (429), the rest appended nothing', async () => {
      const tenant = await t.tenant();
      const flooder = await t.user({ tenant: tenant.slug, role: 'member' });
      const root = await t.superadmin();
      const limits = await t.request(`/v1/tenants/${tenant.id}/limits`, {
        method: 'PUT',
        token: root.token,
        tenant: tenant.slug,
        json: { package_requests_per_month: 2 },
      });
      expect(limits.status).toBe(200);
      const position = BigInt(((await limits.json()) as LooseJson).position);
      expect(await t.engine.waitFor(['tenantList'], position, 10_000)).toBe(true);
      const answers = await Promise.all(
        [
          'pnpm-lock-v6.yaml',
          'pnpm-lock-v9.yaml',
          'yarn-v1.lock',
          'yarn-berry.lock',
          'pnpm-lock-v9.yaml',
        ].map((f) => submit(flooder, fixture(f), { type: 'text/plain' })),
      );
      expect(answers.map((a) => a.status).sort()).toEqual([202, 202, 429, 429, 429]);
      // On PostgreSQL a reader sees an event once every older transaction has ended (the store's
      // visibility bound): a read right after the answers may trail them briefly, so wait for both.
      const submitted = async () =>
        (await t.store.readAll({ types: ['PackageRequestSubmitted'] })).filter(
          (e) => (e.data as { tenantId: string }).tenantId === tenant.id,
        );
      await expect.poll(submitted, { timeout: 10_000 }).toHaveLength(2);
    });

    it('abuse: a token narrowed to reading packages cannot submit one (403), appending nothing', async () => {
      const o = await oauthFixture(t);
      // The tenant's owner, signed in to an application granted read access to packages only.
      const { tokens } = await o.codeFlow(await o.confidential(), 'openid packages:read');
      const before = await eventCount();
      const res = await t.request(`/t/${o.tenant.slug}/v1/package-requests`, {
        method: 'POST',
        token: tokens.access_token,
        headers: { 'content-type': 'application/yaml' },
        body: fixture('pnpm-lock-v9.yaml'),
      });
      expect(res.status, await res.clone().text()).toBe(403);
      expect(res.headers.get('content-type')).toContain('application/problem+json');
      expect(await eventCount()).toBe(before);
    });

    it('an unauthenticated upload is 401 and appends nothing', async () => {
      const before = await eventCount();
      const res = await server.request('/v1/package-requests', {
        method: 'POST',
        tenant: member.tenantSlug,
        headers: { 'content-type': 'application/yaml' },
        body: fixture('pnpm-lock-v9.yaml'),
      });
      expect(res.status).toBe(401);
      expect(await eventCount()).toBe(before);
    });
  });
}
