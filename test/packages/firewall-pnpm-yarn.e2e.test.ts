import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
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

/**
 * pnpm 9 and Yarn 4 run through npx (from its cache, or fetched from the npm registry this machine is
 * configured with). Where npx can get neither, the tests that need them are skipped, and say so.
 */
async function available(spec: string): Promise<boolean> {
  try {
    const { stdout } = await exec('npx', ['-y', spec, '--version'], { cwd: tmpdir(), timeout: 120_000 });
    return /^\d+\.\d+\.\d+/.test(stdout.trim());
  } catch {
    return false;
  }
}
const [hasPnpm, hasYarn] = await Promise.all([available('pnpm@9'), available('@yarnpkg/cli-dist')]);

let upstream: Registry;
let target: Registry;
let warden: ReturnType<typeof runWarden>;
let base: string;
let token: string;
const cache = temp('warden-npm-cache-');

async function run(dir: string, command: string, args: string[]) {
  return exec(command, args, { cwd: dir, env: { ...process.env, CI: '1' }, timeout: 120_000 });
}

/** A project folder with these dependencies. */
function project(dependencies: Record<string, string>) {
  const dir = temp('warden-project-');
  writeFileSync(
    join(dir, 'package.json'),
    JSON.stringify({ name: 'demo-app', version: '1.0.0', dependencies }),
  );
  return dir;
}

async function submit(body: string, type: string) {
  const response = await fetch(`${base}/v1/package-requests`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'x-tenant': 'default', 'content-type': type },
    body,
  });
  return { status: response.status, body: (await response.json()) as LooseJson };
}

async function settled(requestId: string) {
  let last: LooseJson = {};
  await until(
    async () => {
      const response = await fetch(`${base}/v1/package-requests/${requestId}`, {
        headers: { authorization: `Bearer ${token}`, 'x-tenant': 'default' },
      });
      last = (await response.json()) as LooseJson;
      return ['awaiting_approval', 'completed', 'completed_with_unsupported', 'failed'].includes(last.status);
    },
    warden.child,
    90_000,
  );
  return last;
}

/** The real npm CLI installing the project's package.json from the secure registry. */
async function npmInstall(dir: string) {
  writeFileSync(join(dir, '.npmrc'), `registry=${target.url}/\n`);
  return exec(
    'npm',
    ['install', '--cache', cache, '--no-audit', '--no-fund', '--ignore-scripts', '--no-package-lock'],
    {
      cwd: dir,
      env: { ...process.env, npm_config_userconfig: join(dir, '.npmrc') },
    },
  );
}

beforeAll(async () => {
  [upstream, target] = await Promise.all([startVerdaccio(), startVerdaccio()]);
  await publishFixture(upstream, { name: 'lk-clean', version: '1.0.0' });
  await publishFixture(upstream, {
    name: '@lk/scoped',
    version: '2.0.0',
    packageJson: { dependencies: { 'lk-clean': '1.0.0' } },
  });
  await publishFixture(upstream, {
    name: 'lk-peer',
    version: '1.0.0',
    packageJson: { peerDependencies: { 'lk-clean': '^1.0.0' } },
  });
  await publishFixture(upstream, { name: 'lk-yarn', version: '3.0.0' });
  await publishFixture(upstream, { name: 'lk-elsewhere', version: '1.0.0' });
  // Advisory data (one advisory, for a package none of these projects uses): without any, every
  // package would wait for an approver (Warden fails closed).
  const osv = temp('warden-osv-');
  mkdirSync(join(osv, 'npm'));
  writeFileSync(
    join(osv, 'npm', 'GHSA-lkxx-lkxx-0001.json'),
    JSON.stringify({
      id: 'GHSA-lkxx-lkxx-0001',
      modified: '2026-11-01T00:00:00Z',
      summary: 'An advisory for a package these projects do not use',
      affected: [
        {
          package: { ecosystem: 'npm', name: 'lk-unused' },
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
});

describe('pnpm and Yarn lockfiles through the firewall, end to end with Verdaccio and the real tools', () => {
  it.skipIf(!hasPnpm)(
    'a pnpm-lock.yaml that pnpm 9 wrote is checked and published; pnpm installs it frozen, and npm installs the project, from the secure registry',
    async () => {
      const dir = project({ '@lk/scoped': '2.0.0', 'lk-peer': '1.0.0', 'my-clean': 'npm:lk-clean@1.0.0' });
      const store = temp('warden-pnpm-store-');
      await run(dir, 'npx', [
        '-y',
        'pnpm@9',
        'install',
        '--lockfile-only',
        `--registry=${upstream.url}/`,
        `--store-dir=${store}`,
      ]);
      const lockfile = readFileSync(join(dir, 'pnpm-lock.yaml'), 'utf8');
      // pnpm writes the peer into the key: Warden reads it as the package itself.
      expect(lockfile).toContain('lk-peer@1.0.0(lk-clean@1.0.0)');
      const submitted = await submit(lockfile, 'application/yaml');
      expect(submitted.status, JSON.stringify(submitted.body)).toBe(202);
      expect(submitted.body.packages_total).toBe(3);
      const request = await settled(submitted.body.id);
      expect(request).toMatchObject({
        status: 'completed',
        lockfile_format: 'pnpm-lock',
        lockfile_version: 9,
      });
      expect(Object.fromEntries((request.packages as LooseJson[]).map((p) => [p.spec, p.status]))).toEqual({
        '@lk/scoped@2.0.0': 'published',
        'lk-clean@1.0.0': 'published',
        'lk-peer@1.0.0': 'published',
      });
      // pnpm checks every tarball against the lockfile's integrity: the secure registry serves the same bytes.
      await run(dir, 'npx', [
        '-y',
        'pnpm@9',
        'install',
        '--frozen-lockfile',
        '--ignore-scripts',
        `--registry=${target.url}/`,
        `--store-dir=${store}`,
      ]);
      const installed = JSON.parse(
        readFileSync(join(dir, 'node_modules', 'my-clean', 'package.json'), 'utf8'),
      );
      expect(installed).toMatchObject({ name: 'lk-clean', version: '1.0.0' });
      const npmDir = project({ '@lk/scoped': '2.0.0', 'lk-peer': '1.0.0' });
      await npmInstall(npmDir);
      expect(
        JSON.parse(readFileSync(join(npmDir, 'node_modules', '@lk', 'scoped', 'package.json'), 'utf8'))
          .version,
      ).toBe('2.0.0');
    },
    180_000,
  );

  it.skipIf(!hasYarn)(
    'a Berry yarn.lock (no npm integrity in it) is verified against the registry and published; npm then installs it from the secure registry',
    async () => {
      const dir = project({ 'lk-yarn': '3.0.0' });
      writeFileSync(
        join(dir, '.yarnrc.yml'),
        [
          `npmRegistryServer: "${upstream.url}"`,
          'unsafeHttpWhitelist: ["127.0.0.1"]',
          'enableTelemetry: false',
          'enableGlobalCache: false',
          `globalFolder: "${join(dir, '.yarn-global')}"`,
          'npmMinimalAgeGate: 0',
          '',
        ].join('\n'),
      );
      writeFileSync(join(dir, 'yarn.lock'), '');
      await run(dir, 'npx', ['-y', '@yarnpkg/cli-dist', 'install', '--mode=update-lockfile']);
      const submitted = await submit(readFileSync(join(dir, 'yarn.lock'), 'utf8'), 'text/plain');
      expect(submitted.status, JSON.stringify(submitted.body)).toBe(202);
      const request = await settled(submitted.body.id);
      expect(request).toMatchObject({ status: 'completed', lockfile_format: 'yarn-berry' });
      const npmDir = project({ 'lk-yarn': '3.0.0' });
      await npmInstall(npmDir);
      expect(
        JSON.parse(readFileSync(join(npmDir, 'node_modules', 'lk-yarn', 'package.json'), 'utf8')).version,
      ).toBe('3.0.0');
    },
    180_000,
  );

  it.skipIf(!hasPnpm)(
    'abuse: a resolution pointing to another host is never fetched; the package comes from the upstream and is checked against the lockfile integrity',
    async () => {
      const hits: string[] = [];
      const trap = createServer((req, res) => {
        hits.push(req.url ?? '');
        res.writeHead(200, { 'content-type': 'application/octet-stream' }).end('not a tarball');
      });
      await new Promise<void>((resolve) => trap.listen(0, '127.0.0.1', resolve));
      const { port } = trap.address() as { port: number };
      try {
        const dir = project({ 'lk-elsewhere': '1.0.0' });
        await run(dir, 'npx', ['-y', 'pnpm@9', 'install', '--lockfile-only', `--registry=${upstream.url}/`]);
        const lockfile = readFileSync(join(dir, 'pnpm-lock.yaml'), 'utf8').replace(
          '    resolution: {integrity: ',
          `    resolution: {tarball: http://127.0.0.1:${port}/lk-elsewhere/-/lk-elsewhere-1.0.0.tgz, integrity: `,
        );
        expect(lockfile).toContain(`127.0.0.1:${port}`);
        const submitted = await submit(lockfile, 'application/yaml');
        expect(submitted.status, JSON.stringify(submitted.body)).toBe(202);
        const request = await settled(submitted.body.id);
        expect(request).toMatchObject({ status: 'completed' });
        expect(hits).toEqual([]);
        expect((await fetch(`${target.url}/lk-elsewhere`)).status).toBe(200);
      } finally {
        await new Promise((resolve) => trap.close(resolve));
      }
    },
    180_000,
  );
});
