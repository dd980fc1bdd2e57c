import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPublisher } from '../../../src/packages/registry/publish.ts';
import { createUpstream } from '../../../src/packages/registry/upstream.ts';
import { publishFixture } from '../../support/fixture-packages.ts';
import { type Registry, startVerdaccio } from '../../support/verdaccio.ts';

const exec = promisify(execFile);
const folders: string[] = [];
const temp = (prefix: string) => {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  folders.push(dir);
  return dir;
};

/** The real npm CLI in a project folder, against one registry, with its own cache and no scripts. */
async function npm(project: string, registry: string, args: string[]) {
  // `always`: the lockfile's resolved URLs name the upstream; npm must fetch from this registry.
  writeFileSync(join(project, '.npmrc'), `registry=${registry}/\nreplace-registry-host=always\n`);
  return exec(
    'npm',
    [
      ...args,
      '--cache',
      join(project, '.npm-cache'),
      '--ignore-scripts',
      '--no-audit',
      '--no-fund',
      // Lockfiles keep where each package came from, as real ones name their registry (this
      // machine's own npmrc omits it, and only the command line overrides that here).
      '--omit-lockfile-registry-resolved=false',
    ],
    { cwd: project, env: { ...process.env, npm_config_userconfig: join(project, '.npmrc') } },
  );
}

describe('the npm CLI installs what was published to the target', () => {
  let upstream: Registry;
  let target: Registry;

  beforeAll(async () => {
    [upstream, target] = await Promise.all([startVerdaccio(), startVerdaccio()]);
  });
  afterAll(async () => {
    await Promise.all([upstream?.stop(), target?.stop()]);
    for (const dir of folders) rmSync(dir, { recursive: true, force: true });
  });

  it('npm ci with a lockfile written against the upstream succeeds against the target (upstream gone), and npm install works too', async () => {
    const fixtures = [
      { name: 'cli-leaf', version: '1.0.0' },
      { name: 'cli-mid', version: '1.1.0', packageJson: { dependencies: { 'cli-leaf': '^1.0.0' } } },
      { name: '@cli/scoped', version: '2.0.0' },
    ];
    for (const pkg of fixtures) await publishFixture(upstream, pkg);

    const app = temp('warden-npm-app-');
    writeFileSync(
      join(app, 'package.json'),
      JSON.stringify({
        name: 'app',
        version: '1.0.0',
        dependencies: { 'cli-mid': '1.1.0', '@cli/scoped': '2.0.0' },
      }),
    );
    await npm(app, upstream.url, ['install', '--package-lock-only']);
    const lock = JSON.parse(readFileSync(join(app, 'package-lock.json'), 'utf8')) as {
      packages: Record<string, { integrity?: string; resolved?: string }>;
    };
    expect(lock.packages['node_modules/cli-leaf']!.resolved).toContain(upstream.url);

    const from = createUpstream({
      url: upstream.url,
      timeoutMs: 10_000,
      maxTarballBytes: 1e7,
      maxUnpackedBytes: 1e8,
    });
    const to = createPublisher({ url: target.url, token: target.token, timeoutMs: 10_000 });
    for (const { name, version } of fixtures) {
      const download = await from.download(name, version, lock.packages[`node_modules/${name}`]!.integrity);
      await to.publish({
        name,
        version,
        manifest: download.manifest,
        tarball: download.bytes,
        integrity: download.integrity,
      });
    }
    await upstream.stop(); // whatever npm installs now can only come from the target

    await npm(app, target.url, ['ci']);
    expect(readFileSync(join(app, 'node_modules', 'cli-leaf', 'index.js'), 'utf8')).toContain(
      'cli-leaf@1.0.0',
    );
    expect(
      JSON.parse(readFileSync(join(app, 'node_modules', '@cli', 'scoped', 'package.json'), 'utf8')),
    ).toMatchObject({
      name: '@cli/scoped',
      version: '2.0.0',
    });

    const fresh = temp('warden-npm-fresh-');
    writeFileSync(join(fresh, 'package.json'), JSON.stringify({ name: 'fresh', version: '1.0.0' }));
    await npm(fresh, target.url, ['install', 'cli-mid']);
    expect(JSON.parse(readFileSync(join(fresh, 'package.json'), 'utf8')).dependencies).toEqual({
      'cli-mid': '^1.1.0',
    });
    expect(readFileSync(join(fresh, 'node_modules', 'cli-leaf', 'index.js'), 'utf8')).toContain(
      'cli-leaf@1.0.0',
    );
  });

  it('npm ci refuses a package the target does not hold: nothing unvetted slips in', async () => {
    const other = await startVerdaccio();
    try {
      await publishFixture(other, { name: 'cli-unvetted', version: '1.0.0' });
      const app = temp('warden-npm-unvetted-');
      writeFileSync(
        join(app, 'package.json'),
        JSON.stringify({ name: 'app', version: '1.0.0', dependencies: { 'cli-unvetted': '1.0.0' } }),
      );
      await npm(app, other.url, ['install', '--package-lock-only']);
      await expect(npm(app, target.url, ['ci'])).rejects.toThrow(/cli-unvetted|404/);
    } finally {
      await other.stop();
    }
  });
});
