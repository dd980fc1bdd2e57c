import { createServer } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RegistryError } from '../../../src/packages/registry/errors.ts';
import { digestsOf } from '../../../src/packages/registry/integrity.ts';
import { createPublisher, type Publisher } from '../../../src/packages/registry/publish.ts';
import { BACKFILL_TAG } from '../../../src/packages/registry/publish-document.ts';
import { createUpstream, type Download } from '../../../src/packages/registry/upstream.ts';
import { freePort } from '../../support/cli.ts';
import { packTarball, publishFixture } from '../../support/fixture-packages.ts';
import { type Registry, startVerdaccio } from '../../support/verdaccio.ts';

const codeOf = (promise: Promise<unknown>) =>
  promise.then(
    () => 'ok',
    (error: unknown) =>
      error instanceof RegistryError
        ? `${error.code}${error.retryable ? ' (retryable)' : ''}`
        : `unexpected: ${String(error)}`,
  );

interface Packument {
  'dist-tags': Record<string, string>;
  versions: Record<string, { dist: { integrity: string; shasum: string; tarball: string } }>;
}

describe('publishing to a real target registry (Verdaccio)', () => {
  let upstream: Registry;
  let target: Registry;
  let publisher: Publisher;

  beforeAll(async () => {
    [upstream, target] = await Promise.all([startVerdaccio(), startVerdaccio()]);
    publisher = createPublisher({ url: target.url, token: target.token, timeoutMs: 120_000 });
  }, 180_000);
  afterAll(() => Promise.all([upstream?.stop(), target?.stop()]));

  /** Publishes a fixture upstream and downloads it as the pipeline would. */
  async function fromUpstream(name: string, version: string, packageJson?: Record<string, unknown>) {
    await publishFixture(upstream, { name, version, ...(packageJson ? { packageJson } : {}) });
    return createUpstream({
      url: upstream.url,
      timeoutMs: 120_000,
      maxTarballBytes: 1e7,
      maxUnpackedBytes: 1e8,
    }).download(name, version);
  }
  const publish = (d: Download) =>
    publisher.publish({
      name: String(d.manifest.name),
      version: String(d.manifest.version),
      manifest: d.manifest,
      tarball: d.bytes,
      integrity: d.integrity,
    });
  const packumentOf = async (name: string) =>
    (await (await fetch(`${target.url}/${name.replace('/', '%2F')}`)).json()) as Packument;
  const tarballOf = async (url: string) => new Uint8Array(await (await fetch(url)).arrayBuffer());

  it('publishes the original bytes: the target serves the version with the upstream’s integrity and those very bytes', async () => {
    const download = await fromUpstream('@acme/widget', '1.2.0', { description: 'a widget' });
    expect(await publish(download)).toEqual({ outcome: 'published' });
    const packument = await packumentOf('@acme/widget');
    expect(packument['dist-tags'].latest).toBe('1.2.0');
    const dist = packument.versions['1.2.0']!.dist;
    expect(dist.integrity).toBe(download.integrity);
    expect(dist.shasum).toBe(download.shasum);
    expect(await tarballOf(dist.tarball)).toEqual(download.bytes);
  });

  it('publishing again is already_present and changes nothing (a worker that died after the upload, re-run)', async () => {
    const download = await fromUpstream('again', '1.0.0');
    expect(await publish(download)).toEqual({ outcome: 'published' });
    const before = await packumentOf('again');
    expect(await publish(download)).toEqual({ outcome: 'already_present' });
    expect(await packumentOf('again')).toMatchObject({
      'dist-tags': before['dist-tags'],
      versions: { '1.0.0': { dist: before.versions['1.0.0']!.dist } },
    });
  });

  it('two workers publishing the same version at once: one publishes, the other finds it present', async () => {
    const download = await fromUpstream('race', '1.0.0');
    const outcomes = await Promise.all([publish(download), publish(download), publish(download)]);
    expect(outcomes.map((o) => o.outcome).sort()).toEqual([
      'already_present',
      'already_present',
      'published',
    ]);
  });

  it('other bytes under a version the target already holds are a conflict, and the target keeps its bytes', async () => {
    const theirs = await publishFixture(target, {
      name: 'taken',
      version: '1.0.0',
      packageJson: { description: 'x' },
    });
    const download = await fromUpstream('taken', '1.0.0');
    expect(await codeOf(publish(download))).toBe('conflict');
    expect((await packumentOf('taken')).versions['1.0.0']!.dist.integrity).toBe(theirs.integrity);
  });

  it('refuses to publish bytes that do not match the integrity it is told to announce', async () => {
    const download = await fromUpstream('lying', '1.0.0');
    const other = await digestsOf(
      await packTarball({ name: 'lying', version: '1.0.0', packageJson: { x: 1 } }),
    );
    expect(
      await codeOf(
        publisher.publish({
          name: 'lying',
          version: '1.0.0',
          manifest: download.manifest,
          tarball: download.bytes,
          integrity: other.integrity,
        }),
      ),
    ).toBe('integrity_mismatch');
    expect((await fetch(`${target.url}/lying`)).status).toBe(404);
  });

  it('never moves latest backwards, and a prerelease never displaces a stable latest', async () => {
    expect(await publish(await fromUpstream('tags', '2.0.0'))).toEqual({ outcome: 'published' });
    expect(await publish(await fromUpstream('tags', '1.5.0'))).toEqual({ outcome: 'published' });
    expect(await publish(await fromUpstream('tags', '3.0.0-beta.1'))).toEqual({ outcome: 'published' });
    let packument = await packumentOf('tags');
    expect(packument['dist-tags'].latest).toBe('2.0.0');
    expect(Object.keys(packument.versions).sort()).toEqual(['1.5.0', '2.0.0', '3.0.0-beta.1']);
    expect(await publish(await fromUpstream('tags', '2.1.0'))).toEqual({ outcome: 'published' });
    packument = await packumentOf('tags');
    expect(packument['dist-tags'].latest).toBe('2.1.0');
    expect(packument['dist-tags'][BACKFILL_TAG]).toBeDefined();
  });

  it('a bad token is unauthorized (not retried); a target that is down is unavailable (retried)', async () => {
    const download = await fromUpstream('guarded', '1.0.0');
    const wrongToken = createPublisher({ url: target.url, token: 'not-a-token', timeoutMs: 120_000 });
    expect(
      await codeOf(
        wrongToken.publish({
          name: 'guarded',
          version: '1.0.0',
          manifest: download.manifest,
          tarball: download.bytes,
          integrity: download.integrity,
        }),
      ),
    ).toBe('unauthorized');
    const closed = createPublisher({
      url: `http://127.0.0.1:${await freePort()}`,
      token: 't',
      timeoutMs: 120_000,
    });
    expect(
      await codeOf(
        closed.publish({
          name: 'guarded',
          version: '1.0.0',
          manifest: download.manifest,
          tarball: download.bytes,
          integrity: download.integrity,
        }),
      ),
    ).toBe('unavailable (retryable)');
  });

  it('maps what a target answers a publish with: 5xx retryable, 413 too large, 400 refused, a 409 that never clears retryable', async () => {
    const download = await fromUpstream('answers', '1.0.0');
    let status = 500;
    const server = createServer((req, res) => {
      req.resume();
      res.writeHead(req.method === 'PUT' ? status : 404).end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const odd = createPublisher({
        url: `http://127.0.0.1:${(server.address() as { port: number }).port}`,
        token: 't',
        timeoutMs: 120_000,
      });
      const outcomes: Record<number, string> = {};
      for (status of [500, 429, 413, 400, 409]) {
        outcomes[status] = await codeOf(
          odd.publish({
            name: 'answers',
            version: '1.0.0',
            manifest: download.manifest,
            tarball: download.bytes,
            integrity: download.integrity,
          }),
        );
      }
      expect(outcomes).toEqual({
        500: 'unavailable (retryable)',
        429: 'unavailable (retryable)',
        413: 'too_large',
        400: 'invalid_manifest',
        409: 'unavailable (retryable)',
      });
    } finally {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});
