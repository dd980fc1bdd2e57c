import { createServer, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createUpstream } from '../../src/packages/registry/upstream.ts';
import { tarBomb } from '../support/fixture-packages.ts';

/**
 * A registry that misbehaves on purpose: it never answers, points tarballs elsewhere, or sends the
 * first half of a tar bomb and then nothing more, never ending the download.
 */
let server: Server;
let base: string;
let bomb: Uint8Array;
beforeAll(async () => {
  bomb = await tarBomb({ name: 'trickle-bomb', version: '1.0.0' }, 64 * 1024 * 1024);
  server = createServer((req, res) => {
    if (req.url?.startsWith('/hangs')) return; // never answers
    if (req.url === '/trickle-bomb/1.0.0') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({
          name: 'trickle-bomb',
          version: '1.0.0',
          dist: { tarball: `${base}/trickle-bomb/-/trickle-bomb-1.0.0.tgz` },
        }),
      );
      return;
    }
    if (req.url === '/trickle-bomb/-/trickle-bomb-1.0.0.tgz') {
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      res.write(bomb.subarray(0, Math.floor(bomb.length / 2))); // and never the rest
      return;
    }
    if (req.url === '/elsewhere') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({
          name: 'elsewhere',
          versions: {
            '1.0.0': {
              name: 'elsewhere',
              version: '1.0.0',
              dist: { tarball: 'http://169.254.169.254/latest/meta-data.tgz' },
            },
          },
        }),
      );
      return;
    }
    if (req.url === '/broken') {
      res.writeHead(500).end('boom');
      return;
    }
    res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
});
afterAll(() => {
  server.closeAllConnections();
  return new Promise<void>((resolve) => server.close(() => resolve()));
});

/**
 * A client whose timeout decides nothing unless the registry stays silent: a registry that answers,
 * however loaded the machine, answers within it.
 */
const upstream = (url: string, timeoutMs = 120_000) =>
  createUpstream({ url, timeoutMs, maxTarballBytes: 1e6, maxUnpackedBytes: 1e7 });
const codeOf = (promise: Promise<unknown>) =>
  promise.then(
    () => 'ok',
    (error: { code?: string; retryable?: boolean }) =>
      `${error.code}${error.retryable ? ' (retryable)' : ''}`,
  );

describe('the upstream registry client', () => {
  it('gives up on a registry that does not answer within the timeout, as retryable', async () => {
    expect(await codeOf(upstream(`${base}/hangs`, 300).download('left-pad', '1.3.0'))).toBe(
      'unavailable (retryable)',
    );
  });

  it('treats 5xx and a closed port as retryable, 404 as not found', async () => {
    expect(await codeOf(upstream(base).download('broken', '1.0.0'))).toBe('unavailable (retryable)');
    expect(await codeOf(upstream('http://127.0.0.1:9').download('left-pad', '1.3.0'))).toBe(
      'unavailable (retryable)',
    );
    expect(await codeOf(upstream(base).download('missing', '1.0.0'))).toBe('not_found');
  });

  it('never fetches a tarball from another origin than the upstream (no request forgery)', async () => {
    expect(await codeOf(upstream(base).download('elsewhere', '1.0.0'))).toBe('unsafe_url');
  });

  it('refuses a tar bomb from its first bytes, while the registry still sends it: no timer decides', async () => {
    // The download never ends: only what its bytes unpack to can answer before the test's own timeout.
    expect(await codeOf(upstream(base, 600_000).download('trickle-bomb', '1.0.0'))).toBe(
      'unpacked_too_large',
    );
  });

  it('refuses names and versions that are not npm’s before any request', async () => {
    expect(await codeOf(upstream(base).download('../../etc/passwd', '1.0.0'))).toBe('not_found');
    expect(await codeOf(upstream(base).download('left-pad', 'latest'))).toBe('not_found');
  });
});
