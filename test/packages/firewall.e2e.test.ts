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
const cache = temp('warden-npm-cache-');

/** The real npm CLI in a project folder, against one registry, with its own cache. */
async function npm(project: string, registry: string, args: string[]) {
  writeFileSync(join(project, '.npmrc'), `registry=${registry}/\nreplace-registry-host=always\n`);
  return exec('npm', [...args, '--cache', cache, '--no-audit', '--no-fund', '--ignore-scripts'], {
    cwd: project,
    env: { ...process.env, npm_config_userconfig: join(project, '.npmrc') },
  });
}

/** A project with these dependencies and a lockfile real npm wrote for it (from the upstream). */
async function project(dependencies: Record<string, string>, lockfileVersion: 1 | 2 | 3) {
  const dir = temp('warden-project-');
  writeFileSync(
    join(dir, 'package.json'),
    JSON.stringify({ name: 'demo-app', version: '1.0.0', dependencies }),
  );
  await npm(dir, upstream.url, ['install', '--package-lock-only', `--lockfile-version=${lockfileVersion}`]);
  return {
    dir,
    lockfile: () =>
      JSON.parse(readFileSync(join(dir, 'package-lock.json'), 'utf8')) as Record<string, unknown>,
  };
}

async function api(path: string, init: { method?: string; json?: unknown } = {}) {
  const response = await fetch(`${base}${path}`, {
    method: init.method ?? (init.json === undefined ? 'GET' : 'POST'),
    headers: {
      authorization: `Bearer ${token}`,
      'x-tenant': 'default',
      ...(init.json === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(init.json === undefined ? {} : { body: JSON.stringify(init.json) }),
  });
  return {
    status: response.status,
    body: (await response.json()) as LooseJson,
  };
}

/** Waits until no package of the request is still moving through the pipeline. */
async function settled(requestId: string) {
  let last: LooseJson = {};
  await until(
    async () => {
      last = (await api(`/v1/package-requests/${requestId}`)).body;
      return ['awaiting_approval', 'completed', 'failed'].includes(last.status);
    },
    warden.child,
    90_000,
  );
  return last;
}

const statuses = (request: LooseJson) =>
  Object.fromEntries((request.packages as { spec: string; status: string }[]).map((p) => [p.spec, p.status]));

beforeAll(async () => {
  [upstream, target] = await Promise.all([startVerdaccio(), startVerdaccio()]);
  await publishFixture(upstream, { name: 'fw-clean', version: '1.0.0' });
  await publishFixture(upstream, {
    name: '@fw/scoped',
    version: '2.0.0',
    packageJson: { license: 'Apache-2.0' },
  });
  await publishFixture(upstream, { name: 'fw-vuln', version: '1.0.0' });
  await publishFixture(upstream, {
    name: 'fw-script',
    version: '1.0.0',
    packageJson: { scripts: { postinstall: 'node -e "console.log(1)"' } },
  });
  await publishFixture(upstream, { name: 'fw-tampered', version: '1.0.0' });
  await publishFixture(upstream, { name: 'fw-poisoned', version: '1.0.0' });
  await publishFixture(upstream, {
    name: 'fw-copyleft',
    version: '1.0.0',
    packageJson: { license: 'AGPL-3.0-only' },
  });

  const osv = temp('warden-osv-');
  mkdirSync(join(osv, 'npm'));
  writeFileSync(
    join(osv, 'npm', 'GHSA-fwvu-lnpk-0001.json'),
    JSON.stringify({
      id: 'GHSA-fwvu-lnpk-0001',
      modified: '2026-11-01T00:00:00Z',
      aliases: ['CVE-2026-0001'],
      summary: 'Remote code execution in fw-vuln',
      severity: [{ type: 'CVSS_V3', score: 'CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H' }],
      affected: [
        {
          package: { ecosystem: 'npm', name: 'fw-vuln' },
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

describe('the package firewall, end to end with Verdaccio and the npm CLI', () => {
  it('checks a v3 lockfile, publishes clean packages, holds a vulnerable and a scripted one; npm ci then installs only what was let in', async () => {
    const app = await project(
      {
        'fw-clean': '1.0.0',
        '@fw/scoped': '2.0.0',
        'my-clean': 'npm:fw-clean@1.0.0',
        'fw-script': '1.0.0',
        'fw-vuln': '1.0.0',
      },
      3,
    );
    const submitted = await api('/v1/package-requests', { json: app.lockfile() });
    expect(submitted.status).toBe(202);
    // The alias names the same package: four packages, not five.
    expect(submitted.body.packages_total).toBe(4);
    const request = await settled(submitted.body.id);
    expect(statuses(request)).toEqual({
      '@fw/scoped@2.0.0': 'published',
      'fw-clean@1.0.0': 'published',
      'fw-script@1.0.0': 'awaiting_approval',
      'fw-vuln@1.0.0': 'awaiting_approval',
    });
    expect(request.progress).toEqual({ done: 2, total: 4 });
    const vuln = (await api('/v1/packages/fw-vuln%401.0.0')).body;
    expect(vuln.findings).toEqual([
      expect.objectContaining({
        id: 'GHSA-fwvu-lnpk-0001',
        kind: 'vulnerability',
        severity: 'critical',
        fixVersion: '1.0.1',
        aliases: ['CVE-2026-0001'],
      }),
    ]);
    expect((await api('/v1/packages/fw-script%401.0.0')).body.reasons).toEqual(['install_script']);

    // npm ci from the secure registry fails on the package that is not let in…
    await expect(npm(app.dir, target.url, ['ci'])).rejects.toThrow(/fw-script|fw-vuln/);

    // …and succeeds once the approver decided: the script approved, the vulnerable one rejected.
    expect(
      (await api('/v1/packages/fw-script%401.0.0/approve', { json: { reason: 'reviewed: prints a line' } }))
        .status,
    ).toBe(200);
    expect(
      (await api('/v1/packages/fw-vuln%401.0.0/reject', { json: { reason: 'critical RCE' } })).status,
    ).toBe(200);
    const decided = await settled(submitted.body.id);
    await until(
      async () => statuses(await settled(submitted.body.id))['fw-script@1.0.0'] === 'published',
      warden.child,
    );
    expect(
      decided.status === 'completed' || decided.status === 'awaiting_approval' || decided.status === 'failed',
    ).toBe(true);
    await expect(npm(app.dir, target.url, ['ci'])).rejects.toThrow(/fw-vuln/);

    const safe = await project(
      { 'fw-clean': '1.0.0', '@fw/scoped': '2.0.0', 'my-clean': 'npm:fw-clean@1.0.0', 'fw-script': '1.0.0' },
      3,
    );
    await npm(safe.dir, target.url, ['ci']);
    const installed = JSON.parse(
      readFileSync(join(safe.dir, 'node_modules', 'my-clean', 'package.json'), 'utf8'),
    );
    expect(installed).toMatchObject({ name: 'fw-clean', version: '1.0.0' });
  });

  it('reuses packages already decided: v1 and v2 lockfiles of the same tree complete at once, and npm ci installs them', async () => {
    for (const version of [1, 2] as const) {
      const app = await project({ 'fw-clean': '1.0.0', '@fw/scoped': '2.0.0' }, version);
      const submitted = await api('/v1/package-requests', { json: app.lockfile() });
      expect(submitted.status).toBe(202);
      const request = await settled(submitted.body.id);
      expect(request).toMatchObject({
        status: 'completed',
        lockfile_version: version,
        progress: { done: 2, total: 2 },
      });
      await npm(app.dir, target.url, ['ci']);
    }
  });

  it('rejects a tampered tarball and a denied license; nothing of them reaches the secure registry', async () => {
    const app = await project({ 'fw-tampered': '1.0.0', 'fw-copyleft': '1.0.0' }, 3);
    const lockfile = app.lockfile() as { packages: Record<string, { integrity?: string }> };
    lockfile.packages['node_modules/fw-tampered']!.integrity =
      `sha512-${Buffer.alloc(64, 7).toString('base64')}`;
    const submitted = await api('/v1/package-requests', { json: lockfile });
    const request = await settled(submitted.body.id);
    expect(statuses(request)).toEqual({ 'fw-copyleft@1.0.0': 'rejected', 'fw-tampered@1.0.0': 'rejected' });
    expect((await api('/v1/packages/fw-tampered%401.0.0')).body.failure).toMatchObject({
      stage: 'download',
      code: 'integrity_mismatch',
    });
    expect((await api('/v1/packages/fw-copyleft%401.0.0')).body.failure).toMatchObject({
      code: 'license_denied',
    });
    for (const name of ['fw-tampered', 'fw-copyleft'])
      expect((await fetch(`${target.url}/${name}`)).status).toBe(404);
  });

  it('a lockfile with a wrong integrity does not refuse the package to the tenant: the next lockfile with the right one has it checked again', async () => {
    const app = await project({ 'fw-poisoned': '1.0.0' }, 3);
    const right = app.lockfile() as { packages: Record<string, { integrity?: string }> };
    const rightIntegrity = right.packages['node_modules/fw-poisoned']!.integrity!;
    const wrong = structuredClone(right);
    wrong.packages['node_modules/fw-poisoned']!.integrity =
      `sha512-${Buffer.alloc(64, 9).toString('base64')}`;
    const item = (request: LooseJson) =>
      (request.packages as { spec: string; status: string; integrity_matches: boolean | null }[]).find(
        (p) => p.spec === 'fw-poisoned@1.0.0',
      );

    // Whoever asks first with other bytes' integrity gets the package refused, as tampering is.
    const first = (await api('/v1/package-requests', { json: wrong })).body.id as string;
    expect(statuses(await settled(first))['fw-poisoned@1.0.0']).toBe('rejected');
    expect((await api('/v1/packages/fw-poisoned%401.0.0')).body.failure).toMatchObject({
      code: 'integrity_mismatch',
    });

    // The next lockfile with the registry's integrity: checked again, and published (before, refused for good).
    const second = (await api('/v1/package-requests', { json: right })).body.id as string;
    let request: LooseJson = {};
    await until(
      async () => {
        request = (await api(`/v1/package-requests/${second}`)).body;
        return item(request)?.status === 'published';
      },
      warden.child,
      90_000,
    );
    expect(item(request)).toMatchObject({ lockfile_integrity: rightIntegrity, integrity_matches: true });
    // The first request says why its lockfile will not install: its integrity is not these bytes'.
    expect(item((await api(`/v1/package-requests/${first}`)).body)).toMatchObject({
      status: 'published',
      integrity_matches: false,
    });
    await npm(app.dir, target.url, ['ci']);

    // A wrong integrity again changes nothing of a published package.
    const third = (await api('/v1/package-requests', { json: wrong })).body.id as string;
    expect(item(await settled(third))).toMatchObject({ status: 'published', integrity_matches: false });
    const events = (await api('/v1/packages/fw-poisoned%401.0.0')).body;
    expect(events.status).toBe('published');
  });
});
