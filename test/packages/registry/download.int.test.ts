import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RegistryError } from '../../../src/packages/registry/errors.ts';
import { digestsOf } from '../../../src/packages/registry/integrity.ts';
import { createUpstream, type Upstream } from '../../../src/packages/registry/upstream.ts';
import { packTarball, publishFixture, tarBomb, truncatedTarball } from '../../support/fixture-packages.ts';
import { type Registry, startVerdaccio } from '../../support/verdaccio.ts';

// No test here waits for a silent registry: the timeout is a budget a loaded Verdaccio always answers within.
const caps = { timeoutMs: 120_000, maxTarballBytes: 200_000, maxUnpackedBytes: 2_000_000 };
const codeOf = (promise: Promise<unknown>) =>
  promise.then(
    () => 'ok',
    (error: unknown) =>
      error instanceof RegistryError
        ? `${error.code}${error.retryable ? ' (retryable)' : ''}`
        : `unexpected: ${String(error)}`,
  );

describe('downloading from a real upstream registry (Verdaccio)', () => {
  let registry: Registry;
  let upstream: Upstream;

  beforeAll(async () => {
    registry = await startVerdaccio();
    upstream = createUpstream({ url: registry.url, ...caps });
  });
  afterAll(() => registry?.stop());

  it('returns the exact published bytes with their integrity, the tarball’s package.json and the registry’s version document', async () => {
    const published = await publishFixture(
      registry,
      { name: 'plain', version: '1.0.0', packageJson: { license: 'Apache-2.0' }, files: { 'lib/x.js': 'x' } },
      { deprecated: 'use plainer' },
    );
    const download = await upstream.download('plain', '1.0.0', published.integrity);
    expect(download.bytes).toEqual(published.tarball);
    expect(download).toMatchObject({
      integrity: published.integrity,
      shasum: published.shasum,
      size: published.tarball.length,
      manifest: { name: 'plain', version: '1.0.0', license: 'Apache-2.0' },
      registryManifest: {
        name: 'plain',
        version: '1.0.0',
        deprecated: 'use plainer',
        dist: { integrity: published.integrity },
      },
    });
    expect(download.unpackedSize).toBeGreaterThan(JSON.stringify(download.manifest).length);
  });

  it('downloads a scoped package (the name travels as @scope%2Fname)', async () => {
    const published = await publishFixture(registry, { name: '@acme/thing', version: '2.0.0' });
    const asked: string[] = [];
    const recording = createUpstream({
      url: registry.url,
      ...caps,
      fetch: (input, init) => {
        asked.push(new URL(String(input)).pathname);
        return fetch(input, init);
      },
    });
    const download = await recording.download('@acme/thing', '2.0.0', published.integrity);
    // The small version document, not the whole packument; the tarball from where it says.
    expect(asked).toEqual(['/@acme%2Fthing/2.0.0', '/@acme/thing/-/thing-2.0.0.tgz']);
    expect(download.integrity).toBe(published.integrity);
    expect(download.manifest).toMatchObject({ name: '@acme/thing', version: '2.0.0' });
  });

  it('checks a sha1-only lockfile integrity (v1 lockfiles) as sha1', async () => {
    const published = await publishFixture(registry, { name: 'oldlock', version: '0.1.0' });
    const sha1 = `sha1-${Buffer.from(published.shasum, 'hex').toString('base64')}`;
    expect((await upstream.download('oldlock', '0.1.0', sha1)).integrity).toBe(published.integrity);
    const other = await digestsOf(new Uint8Array([1, 2, 3]));
    const wrong = `sha1-${Buffer.from(other.shasum, 'hex').toString('base64')}`;
    expect(await codeOf(upstream.download('oldlock', '0.1.0', wrong))).toBe('integrity_mismatch');
  });

  it('refuses bytes that differ from the lockfile’s integrity: tampering, not retryable', async () => {
    await publishFixture(registry, { name: 'swapped', version: '1.0.0' });
    const original = await packTarball({
      name: 'swapped',
      version: '1.0.0',
      packageJson: { description: 'a' },
    });
    const { integrity } = await digestsOf(original);
    expect(await codeOf(upstream.download('swapped', '1.0.0', integrity))).toBe('integrity_mismatch');
  });

  it('refuses a tarball over the size cap before it is all read', async () => {
    const noise = crypto.getRandomValues(new Uint8Array(60_000));
    await publishFixture(registry, {
      name: 'heavy',
      version: '1.0.0',
      files: { a: noise, b: noise.map((b) => b ^ 1), c: noise.map((b) => b ^ 2), d: noise.map((b) => b ^ 3) },
    });
    expect(await codeOf(upstream.download('heavy', '1.0.0'))).toBe('too_large');
  });

  it('refuses a tar bomb (a few KB of gzip that unpacks past the cap)', async () => {
    const bomb = await tarBomb({ name: 'bomb', version: '1.0.0' }, 20_000_000);
    await publishFixture(registry, { name: 'bomb', version: '1.0.0' }, { tarball: bomb });
    expect(await codeOf(upstream.download('bomb', '1.0.0'))).toBe('unpacked_too_large');
  });

  it('refuses a truncated or non-gzip tarball that the registry vouches for as malformed', async () => {
    const cut = await truncatedTarball({ name: 'cut', version: '1.0.0' });
    await publishFixture(registry, { name: 'cut', version: '1.0.0' }, { tarball: cut });
    expect(await codeOf(upstream.download('cut', '1.0.0'))).toBe('malformed_tarball');
    const text = new TextEncoder().encode('<html>not a tarball</html>');
    await publishFixture(registry, { name: 'html', version: '1.0.0' }, { tarball: text });
    expect(await codeOf(upstream.download('html', '1.0.0'))).toBe('malformed_tarball');
  });

  it('refuses a tarball whose package.json names another package or version', async () => {
    const impostor = await packTarball({ name: 'lodash', version: '4.17.21' });
    await publishFixture(registry, { name: 'lodahs', version: '1.0.0' }, { tarball: impostor });
    expect(await codeOf(upstream.download('lodahs', '1.0.0'))).toBe('invalid_manifest');
  });

  it('reports an unknown package or version as not found, not retryable', async () => {
    await publishFixture(registry, { name: 'known', version: '1.0.0' });
    expect(await codeOf(upstream.download('never-published', '1.0.0'))).toBe('not_found');
    expect(await codeOf(upstream.download('known', '9.9.9'))).toBe('not_found');
    expect(await codeOf(upstream.download('@nobody/none', '1.0.0'))).toBe('not_found');
  });

  it('downloads through a registry that proxies another one (an uplink)', async () => {
    const published = await publishFixture(registry, { name: '@up/linked', version: '3.1.4' });
    const proxy = await startVerdaccio({ uplink: registry.url });
    try {
      const through = createUpstream({ url: proxy.url, ...caps });
      const download = await through.download('@up/linked', '3.1.4', published.integrity);
      expect(download.bytes).toEqual(published.tarball);
    } finally {
      await proxy.stop();
    }
  });
});
