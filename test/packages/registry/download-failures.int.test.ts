import { createServer, type IncomingHttpHeaders, type Server, type ServerResponse } from 'node:http';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { RegistryError } from '../../../src/packages/registry/errors.ts';
import { digestsOf } from '../../../src/packages/registry/integrity.ts';
import { createUpstream, type UpstreamOptions } from '../../../src/packages/registry/upstream.ts';
import { freePort } from '../../support/cli.ts';
import { packTarball } from '../../support/fixture-packages.ts';

/** A registry that misbehaves on purpose: each test says how it answers which path. */
interface FakeRegistry {
  url: string;
  routes: Map<string, (res: ServerResponse) => void>;
  requests: { path: string; headers: IncomingHttpHeaders }[];
  close(): Promise<void>;
}

async function fakeRegistry(): Promise<FakeRegistry> {
  const routes = new Map<string, (res: ServerResponse) => void>();
  const requests: FakeRegistry['requests'] = [];
  const server: Server = createServer((req, res) => {
    requests.push({ path: req.url ?? '', headers: req.headers });
    const route = routes.get(req.url ?? '');
    if (route) route(res);
    else res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as { port: number }).port}`,
    routes,
    requests,
    close: () => {
      server.closeAllConnections();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

const json = (body: unknown) => (res: ServerResponse) =>
  res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body));
const versionDoc = (name: string, version: string, dist: Record<string, unknown>) => ({
  name,
  version,
  dist,
});

const codeOf = (promise: Promise<unknown>) =>
  promise.then(
    () => 'ok',
    (error: unknown) =>
      error instanceof RegistryError
        ? `${error.code}${error.retryable ? ' (retryable)' : ''}`
        : `unexpected: ${String(error)}`,
  );

describe('downloading from an upstream that misbehaves', () => {
  let registry: FakeRegistry;
  let elsewhere: FakeRegistry;
  let tarball: Uint8Array;
  /** A silent registry is cut off after this; one that answers, however loaded the machine, never is. */
  const STALLED_MS = 500;
  const client = (options: Partial<UpstreamOptions> = {}) =>
    createUpstream({
      url: registry.url,
      timeoutMs: 120_000,
      maxTarballBytes: 100_000,
      maxUnpackedBytes: 1_000_000,
      ...options,
    });

  beforeAll(async () => {
    [registry, elsewhere] = await Promise.all([fakeRegistry(), fakeRegistry()]);
    tarball = await packTarball({ name: 'pkg', version: '1.0.0' });
  });
  beforeEach(() => {
    for (const r of [registry, elsewhere]) {
      r.routes.clear();
      r.requests.length = 0;
    }
  });
  afterAll(() => Promise.all([registry?.close(), elsewhere?.close()]));

  const serveTarballAt = (server: FakeRegistry, dist: Record<string, unknown> = {}) => {
    registry.routes.set(
      '/pkg/1.0.0',
      json(versionDoc('pkg', '1.0.0', { tarball: `${server.url}/pkg/-/pkg-1.0.0.tgz`, ...dist })),
    );
    server.routes.set('/pkg/-/pkg-1.0.0.tgz', (res) => res.writeHead(200).end(tarball));
  };

  it('gives up on a registry that never answers, within the timeout, as retryable', async () => {
    registry.routes.set('/pkg/1.0.0', () => undefined);
    expect(await codeOf(client({ timeoutMs: STALLED_MS }).download('pkg', '1.0.0'))).toBe(
      'unavailable (retryable)',
    );
  });

  it('gives up on a tarball whose body stalls halfway, as retryable', async () => {
    serveTarballAt(registry);
    registry.routes.set('/pkg/-/pkg-1.0.0.tgz', (res) => {
      res.writeHead(200, { 'content-length': String(tarball.length) });
      res.write(tarball.subarray(0, 10)); // …and nothing more
    });
    expect(await codeOf(client({ timeoutMs: STALLED_MS }).download('pkg', '1.0.0'))).toBe(
      'unavailable (retryable)',
    );
  });

  it('treats 5xx, 429 and a closed port as retryable; 401/403 as unauthorized; 404 as not found', async () => {
    for (const [status, expected] of [
      [500, 'unavailable (retryable)'],
      [503, 'unavailable (retryable)'],
      [429, 'unavailable (retryable)'],
      [401, 'unauthorized'],
      [403, 'unauthorized'],
    ] as const) {
      registry.routes.set('/pkg/1.0.0', (res) => res.writeHead(status).end());
      registry.routes.set('/pkg', (res) => res.writeHead(status).end());
      expect([status, await codeOf(client().download('pkg', '1.0.0'))]).toEqual([status, expected]);
    }
    registry.routes.clear();
    expect(await codeOf(client().download('pkg', '1.0.0'))).toBe('not_found');
    const closed = await freePort();
    expect(await codeOf(client({ url: `http://127.0.0.1:${closed}` }).download('pkg', '1.0.0'))).toBe(
      'unavailable (retryable)',
    );
  });

  it('falls back to the packument when the registry serves no version documents', async () => {
    registry.routes.set(
      '/pkg',
      json({
        name: 'pkg',
        versions: { '1.0.0': versionDoc('pkg', '1.0.0', { tarball: `${registry.url}/t.tgz` }) },
      }),
    );
    registry.routes.set('/t.tgz', (res) => res.writeHead(200).end(tarball));
    expect((await client().download('pkg', '1.0.0')).manifest).toMatchObject({ name: 'pkg' });
    expect(registry.requests.map((r) => r.path)).toEqual(['/pkg/1.0.0', '/pkg', '/t.tgz']);
  });

  it('never fetches a tarball from another origin than the upstream (no request forgery)', async () => {
    serveTarballAt(elsewhere);
    expect(await codeOf(client().download('pkg', '1.0.0'))).toBe('unsafe_url');
    expect(elsewhere.requests).toEqual([]);
    registry.routes.set(
      '/pkg/1.0.0',
      json(versionDoc('pkg', '1.0.0', { tarball: 'http://169.254.169.254/latest/meta-data.tgz' })),
    );
    expect(await codeOf(client().download('pkg', '1.0.0'))).toBe('unsafe_url');
    registry.routes.set('/pkg/1.0.0', json(versionDoc('pkg', '1.0.0', { tarball: 'file:///etc/passwd' })));
    expect(await codeOf(client().download('pkg', '1.0.0'))).toBe('unsafe_url');
  });

  it('does not follow a redirect from the registry', async () => {
    serveTarballAt(registry);
    registry.routes.set('/pkg/-/pkg-1.0.0.tgz', (res) =>
      res.writeHead(302, { location: `${elsewhere.url}/pkg/-/pkg-1.0.0.tgz` }).end(),
    );
    elsewhere.routes.set('/pkg/-/pkg-1.0.0.tgz', (res) => res.writeHead(200).end(tarball));
    expect(await codeOf(client().download('pkg', '1.0.0'))).toBe('unsafe_url');
    expect(elsewhere.requests).toEqual([]);
  });

  it('fetches from an allowed CDN origin, without sending it the registry token', async () => {
    serveTarballAt(elsewhere);
    const download = await client({ token: 'secret-token', allowTarballOrigins: [elsewhere.url] }).download(
      'pkg',
      '1.0.0',
    );
    expect(download.bytes).toEqual(tarball);
    expect(registry.requests[0]!.headers.authorization).toBe('Bearer secret-token');
    expect(elsewhere.requests[0]!.headers.authorization).toBeUndefined();
  });

  it('refuses bytes that differ from the registry’s own integrity or shasum, with no lockfile integrity given', async () => {
    const other = await digestsOf(new Uint8Array([1]));
    serveTarballAt(registry, { integrity: other.integrity });
    expect(await codeOf(client().download('pkg', '1.0.0'))).toBe('integrity_mismatch');
    serveTarballAt(registry, { shasum: other.shasum });
    expect(await codeOf(client().download('pkg', '1.0.0'))).toBe('integrity_mismatch');
    serveTarballAt(registry, { integrity: (await digestsOf(tarball)).integrity, shasum: other.shasum });
    expect(await codeOf(client().download('pkg', '1.0.0'))).toBe('integrity_mismatch');
  });

  it('stops reading a tarball past the cap even when no length is announced', async () => {
    serveTarballAt(registry);
    let sent = 0;
    registry.routes.set('/pkg/-/pkg-1.0.0.tgz', (res) => {
      res.writeHead(200); // chunked: no content-length to refuse up front
      const chunk = new Uint8Array(16 * 1024);
      const push = () => {
        while (sent < 50_000_000 && res.write(chunk)) sent += chunk.length;
        if (sent < 50_000_000) res.once('drain', push);
        else res.end();
      };
      push();
    });
    expect(await codeOf(client().download('pkg', '1.0.0'))).toBe('too_large');
    expect(sent).toBeLessThan(10_000_000);
  });

  it('caps the package document too (a hostile registry could send gigabytes of JSON)', async () => {
    registry.routes.set('/pkg/1.0.0', json({ name: 'pkg', padding: 'x'.repeat(20_000) }));
    expect(await codeOf(client({ maxMetadataBytes: 10_000 }).download('pkg', '1.0.0'))).toBe('too_large');
  });

  it('treats an answer that is not JSON as a registry failure, retryable', async () => {
    registry.routes.set('/pkg/1.0.0', (res) => res.writeHead(200).end('<html>maintenance</html>'));
    expect(await codeOf(client().download('pkg', '1.0.0'))).toBe('unavailable (retryable)');
  });

  it('refuses names and versions that are not npm’s before any request (no path traversal)', async () => {
    for (const [name, version] of [
      ['../../etc/passwd', '1.0.0'],
      ['@scope/../x', '1.0.0'],
      ['a/b', '1.0.0'],
      ['@a/b/c', '1.0.0'],
      ['pkg%2f..', '1.0.0'],
      ['pkg', 'latest'],
      ['pkg', '../1.0.0'],
      ['pkg', '>=1.0.0'],
      ['pkg', 'v1.0.0'],
    ] as const) {
      expect([name, version, await codeOf(client().download(name, version))]).toEqual([
        name,
        version,
        'not_found',
      ]);
    }
    expect(registry.requests).toEqual([]);
  });
});
