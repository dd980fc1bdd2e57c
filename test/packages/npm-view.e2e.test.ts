import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LooseJson } from '../support/app.ts';
import { type runWarden, startFirewall, until } from '../support/cli.ts';
import { publishFixture } from '../support/fixture-packages.ts';
import { type Registry, startVerdaccio } from '../support/verdaccio.ts';

const exec = promisify(execFile);
const dirs: string[] = [];
const temp = (prefix: string) => {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  dirs.push(dir);
  return dir;
};

let upstream: Registry;
let target: Registry;
let warden: ReturnType<typeof runWarden>;
let base: string;
let token: string;

/**
 * The real npm CLI in a project folder against one registry (with a read token when given). Each run
 * has a cache of its own: npm finds a tarball in its cache by integrity, so a cache shared between
 * tenants would install what one tenant fetched for the other without asking any registry.
 */
async function npm(project: string, registry: string, args: string[], authToken?: string) {
  const auth = authToken ? `//${registry.replace(/^https?:\/\//, '')}/:_authToken=${authToken}\n` : '';
  writeFileSync(join(project, '.npmrc'), `registry=${registry}/\nreplace-registry-host=always\n${auth}`);
  return exec(
    'npm',
    [...args, '--cache', temp('warden-npm-cache-'), '--no-audit', '--no-fund', '--ignore-scripts'],
    {
      cwd: project,
      env: { ...process.env, npm_config_userconfig: join(project, '.npmrc') },
    },
  );
}

/** A project with these dependencies and a lockfile real npm wrote for it (from the upstream). */
async function project(dependencies: Record<string, string>) {
  const dir = temp('warden-project-');
  writeFileSync(
    join(dir, 'package.json'),
    JSON.stringify({ name: 'view-app', version: '1.0.0', dependencies }),
  );
  await npm(dir, upstream.url, ['install', '--package-lock-only']);
  return {
    dir,
    lockfile: () => JSON.parse(readFileSync(join(dir, 'package-lock.json'), 'utf8')) as LooseJson,
  };
}

async function api(tenant: string, path: string, init: { method?: string; json?: unknown } = {}) {
  const response = await fetch(`${base}${path}`, {
    method: init.method ?? (init.json === undefined ? 'GET' : 'POST'),
    headers: {
      authorization: `Bearer ${token}`,
      'x-tenant': tenant,
      ...(init.json === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(init.json === undefined ? {} : { body: JSON.stringify(init.json) }),
  });
  const text = await response.text();
  return { status: response.status, body: (text ? JSON.parse(text) : {}) as LooseJson };
}

/** A GET on a tenant's npm view, as npm sends it. */
const view = (slug: string, path: string, readToken?: string) =>
  fetch(`${base}/t/${slug}/npm/${path}`, {
    headers: readToken ? { authorization: `Bearer ${readToken}` } : {},
  });

async function statusOf(tenant: string, spec: string): Promise<string> {
  return (await api(tenant, `/v1/packages/${encodeURIComponent(spec)}`)).body.status;
}

async function untilStatus(tenant: string, spec: string, wanted: string) {
  let last = '';
  await until(
    async () => {
      last = await statusOf(tenant, spec);
      return last === wanted;
    },
    warden.child,
    90_000,
  ).catch(async () => {
    throw new Error(
      `${spec} in ${tenant} stayed ${last}, not ${wanted}: ${JSON.stringify((await api(tenant, `/v1/packages/${encodeURIComponent(spec)}`)).body)}`,
    );
  });
}

beforeAll(async () => {
  [upstream, target] = await Promise.all([startVerdaccio(), startVerdaccio()]);
  // An install script: each tenant's approver decides on it.
  await publishFixture(upstream, {
    name: 'tv-shared',
    version: '1.0.0',
    packageJson: { scripts: { postinstall: 'node -e "console.log(1)"' } },
  });
  await publishFixture(upstream, { name: '@tv/clean', version: '1.0.0' });
  // An advisory database with nothing about these packages: the vulnerability scan runs and finds nothing.
  const osv = temp('warden-osv-');
  mkdirSync(join(osv, 'npm'));
  writeFileSync(
    join(osv, 'npm', 'GHSA-tvvw-0000-0001.json'),
    JSON.stringify({
      id: 'GHSA-tvvw-0000-0001',
      modified: '2026-11-01T00:00:00Z',
      summary: 'An advisory about another package',
      affected: [
        {
          package: { ecosystem: 'npm', name: 'tv-unrelated' },
          ranges: [{ type: 'SEMVER', events: [{ introduced: '0' }, { fixed: '1.0.1' }] }],
        },
      ],
    }),
  );
  ({ base, warden, token } = await startFirewall({
    upstream: upstream.url,
    target,
    osvPath: osv,
    dataDir: temp('warden-data-'),
  }));
}, 180_000);

afterAll(async () => {
  warden?.child.kill('SIGTERM');
  await warden?.exited;
  await Promise.all([upstream?.stop(), target?.stop()]);
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  expect(warden.out()).not.toContain(target.token);
});

describe('each tenant installs through its own npm view, end to end with Verdaccio and the npm CLI', () => {
  it('tenant A approves a version tenant B rejected: npm ci fails on it in B with B’s token and succeeds in A with A’s', async () => {
    for (const slug of ['view-a', 'view-b']) {
      expect(
        (await api('default', '/v1/tenants', { json: { slug, name: slug, plan: 'enterprise' } })).status,
      ).toBe(201);
    }
    const app = await project({ 'tv-shared': '1.0.0', '@tv/clean': '1.0.0' });
    for (const tenant of ['view-a', 'view-b']) {
      const submitted = await api(tenant, '/v1/package-requests', { json: app.lockfile() });
      expect(submitted.status).toBe(202);
      await untilStatus(tenant, 'tv-shared@1.0.0', 'awaiting_approval');
      await untilStatus(tenant, '@tv/clean@1.0.0', 'published');
    }
    // B's approver rejects it; A's approver lets it in, and A's pipeline publishes it to the one secure registry.
    expect(
      (await api('view-b', '/v1/packages/tv-shared%401.0.0/reject', { json: { reason: 'no scripts here' } }))
        .status,
    ).toBe(200);
    expect(
      (await api('view-a', '/v1/packages/tv-shared%401.0.0/approve', { json: { reason: 'reviewed' } }))
        .status,
    ).toBe(200);
    await untilStatus('view-a', 'tv-shared@1.0.0', 'published');
    expect(await statusOf('view-b', 'tv-shared@1.0.0')).toBe('rejected');

    // The hole this closes: the shared secure registry serves B the version B rejected.
    await npm(app.dir, target.url, ['ci']);
    expect(
      JSON.parse(readFileSync(join(app.dir, 'node_modules', 'tv-shared', 'package.json'), 'utf8')).version,
    ).toBe('1.0.0');
    rmSync(join(app.dir, 'node_modules'), { recursive: true, force: true });

    const issued = await api('view-b', '/v1/npm-tokens', { json: { name: 'ci of tenant b' } });
    expect(issued.status).toBe(201);
    expect(issued.body.registry).toBe(`${base}/t/view-b/npm/`);
    const tokenB: string = issued.body.token;
    const tokenA: string = (await api('view-a', '/v1/npm-tokens', { json: { name: 'ci of tenant a' } })).body
      .token;

    // B's npm ci through B's view, with B's token: refused on the version B rejected.
    await expect(npm(app.dir, `${base}/t/view-b/npm`, ['ci'], tokenB)).rejects.toThrow(
      /403 Forbidden[\s\S]*tv-shared[\s\S]*"view-b"[\s\S]*1\.0\.0 rejected/,
    );
    // A's npm ci through A's view, with A's token: installs it (streamed from the secure registry).
    const projectA = await project({ 'tv-shared': '1.0.0', '@tv/clean': '1.0.0' });
    await npm(projectA.dir, `${base}/t/view-a/npm`, ['ci'], tokenA);
    for (const name of ['tv-shared', '@tv/clean']) {
      expect(
        JSON.parse(readFileSync(join(projectA.dir, 'node_modules', name, 'package.json'), 'utf8')).version,
      ).toBe('1.0.0');
    }
    // B installs what B let in.
    const projectB = await project({ '@tv/clean': '1.0.0' });
    await npm(projectB.dir, `${base}/t/view-b/npm`, ['ci'], tokenB);
  }, 300_000);

  it('serves packuments cut to the tenant’s versions, refuses other tenants’ and revoked tokens, and audits issue and revoke', async () => {
    const tokenA: string = (await api('view-a', '/v1/npm-tokens', { json: { name: 'reader a' } })).body.token;
    const issuedB = (await api('view-b', '/v1/npm-tokens', { json: { name: 'reader b' } })).body;

    const packument = await view('view-a', 'tv-shared', tokenA);
    expect(packument.status).toBe(200);
    const document = (await packument.json()) as LooseJson;
    expect(Object.keys(document.versions)).toEqual(['1.0.0']);
    expect(document['dist-tags']).toEqual({ latest: '1.0.0' });
    expect(document.versions['1.0.0'].dist.tarball).toBe(
      `${base}/t/view-a/npm/tv-shared/-/tv-shared-1.0.0.tgz`,
    );
    const scoped = (await (await view('view-a', '@tv%2fclean', tokenA)).json()) as LooseJson;
    expect(scoped.versions['1.0.0'].dist.tarball).toBe(`${base}/t/view-a/npm/@tv/clean/-/clean-1.0.0.tgz`);

    const refused = await view('view-b', 'tv-shared', issuedB.token);
    expect(refused.status).toBe(403);
    expect(refused.headers.get('content-type')).toContain('application/problem+json');
    expect(await refused.json()).toMatchObject({
      package: 'tv-shared',
      version: '1.0.0',
      decision: 'rejected',
      decisions: { '1.0.0': 'rejected' },
    });
    const tarball = await view('view-b', 'tv-shared/-/tv-shared-1.0.0.tgz', issuedB.token);
    expect(tarball.status).toBe(403);
    expect(await tarball.json()).toMatchObject({
      package: 'tv-shared',
      version: '1.0.0',
      decision: 'rejected',
    });
    const unknown = await view('view-b', 'tv-shared/-/tv-shared-9.9.9.tgz', issuedB.token);
    expect(await unknown.json()).toMatchObject({ status: 403, version: '9.9.9', decision: 'unknown' });

    // A's token is nobody in B; no token, a made-up one, a revoked one: 401 alike.
    expect((await view('view-b', '@tv%2fclean', tokenA)).status).toBe(401);
    expect((await view('view-a', 'tv-shared')).status).toBe(401);
    expect((await view('view-a', 'tv-shared', `wnpm_${'x'.repeat(43)}`)).status).toBe(401);
    expect((await view('view-b', '@tv%2fclean', issuedB.token)).status).toBe(200);
    expect((await api('view-b', `/v1/npm-tokens/${issuedB.id}`, { method: 'DELETE' })).status).toBe(204);
    expect((await view('view-b', '@tv%2fclean', issuedB.token)).status).toBe(401);
    const listed = (await api('view-b', '/v1/npm-tokens')).body.items as LooseJson[];
    expect(listed.find((t) => t.id === issuedB.id)).toMatchObject({
      name: 'reader b',
      revoked_at: expect.any(String),
    });
    expect(JSON.stringify(listed)).not.toContain(issuedB.token);

    let types: string[] = [];
    await until(async () => {
      const audit = await api(
        'view-b',
        `/v1/audit?stream=${encodeURIComponent(`packages.NpmToken-${issuedB.id}`)}`,
      );
      types = (audit.body.items as LooseJson[] | undefined)?.map((e) => e.type) ?? [];
      return types.length === 2;
    }, warden.child);
    expect(types.sort()).toEqual(['NpmTokenIssued', 'NpmTokenRevoked']);
    expect(warden.out()).not.toContain(issuedB.token);

    // The secure registry's bytes changed behind its packument: the stream ends short and fails, so
    // no client ever receives the whole of what this tenant did not check.
    const good = await view('view-a', 'tv-shared/-/tv-shared-1.0.0.tgz', tokenA);
    expect(good.status).toBe(200);
    const bytes = new Uint8Array(await good.arrayBuffer());
    writeFileSync(
      join(target.storage, 'tv-shared', 'tv-shared-1.0.0.tgz'),
      bytes.map((b) => b ^ 1),
    );
    const tampered = await view('view-a', 'tv-shared/-/tv-shared-1.0.0.tgz', tokenA);
    await expect(tampered.arrayBuffer()).rejects.toThrow();
  });
});
