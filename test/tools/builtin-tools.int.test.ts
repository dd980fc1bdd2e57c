import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer, type Server } from 'node:tls';
import { SignJWT } from 'jose';
import type { Kysely } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AdvisoryTables, importAdvisories } from '../../src/packages/advisories.ts';
import type { OsvRecord } from '../../src/packages/osv/record.ts';
import type { ToolJobs } from '../../src/processes/tools/index.ts';
import { type LooseJson, type SignedInUser, type TestApp, testApp } from '../support/app.ts';
import { databaseKinds } from '../support/postgres.ts';
import { execute, toolTenant, toolWorker, waitForStatus } from './support.ts';

/**
 * A TLS server on 127.0.0.1 with a self-signed certificate made for this test by openssl.
 * `handshakes(n)` waits for its first n handshakes (a client can finish its side first) and gives the
 * SNI of each (`false` for one without).
 */
async function tlsServer(): Promise<{
  port: number;
  handshakes(count: number): Promise<(string | false)[]>;
  close(): Promise<void>;
}> {
  const dir = mkdtempSync(join(tmpdir(), 'warden-tls-'));
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-days',
      '2',
      '-subj',
      '/CN=tools.test',
      '-keyout',
      join(dir, 'key.pem'),
      '-out',
      join(dir, 'cert.pem'),
    ],
    { stdio: 'ignore' },
  );
  const servernames: (string | false)[] = [];
  const waiting = new Set<() => void>();
  const server: Server = createServer(
    { key: readFileSync(join(dir, 'key.pem')), cert: readFileSync(join(dir, 'cert.pem')) },
    (socket) => {
      servernames.push(socket.servername ?? false);
      for (const check of waiting) check();
      socket.end();
    },
  );
  rmSync(dir, { recursive: true });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  const handshakes = (count: number) =>
    new Promise<(string | false)[]>((resolve) => {
      const check = () => {
        if (servernames.length < count) return;
        waiting.delete(check);
        resolve(servernames.slice(0, count));
      };
      waiting.add(check);
      check();
    });
  return { port, handshakes, close: () => new Promise((r) => server.close(() => r())) };
}

for (const kind of databaseKinds) {
  describe(`built-in tools (${kind.name})`, () => {
    let t: TestApp;
    let worker: ToolJobs;
    let operator: SignedInUser;
    beforeAll(async () => {
      t = await testApp(kind.fresh);
      worker = toolWorker(t);
      ({ operator } = await toolTenant(t));
    });
    afterAll(async () => {
      await worker?.stop(1000);
      await t?.dispose();
    });
    const run = async (tool: string, parameters: LooseJson) => {
      const res = await execute(t, operator, tool, parameters);
      expect(res.status, await res.clone().text()).toBe(202);
      return waitForStatus(t, operator, ((await res.json()) as LooseJson).id);
    };

    it('inspects the TLS of a server the test started: protocol, cipher and its certificate', async () => {
      const server = await tlsServer();
      try {
        const done = await run('tls-inspect', { host: '127.0.0.1', port: server.port });
        expect(done.status).toBe('completed');
        expect(done.result.protocol).toMatch(/^TLSv1\.[23]$/);
        expect(done.result.authorized).toBe(false);
        expect(done.result.certificate.subject).toContain('CN=tools.test');
        expect(done.result.certificate.fingerprint256).toMatch(/^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
      } finally {
        await server.close();
      }
    });

    it('sends a host name written absolute as SNI without its trailing dot, and no SNI for an IPv6 address', async () => {
      // Names under localhost. are the loopback addresses without asking the DNS (RFC 6761), and
      // 127.0.0.1 is on the tenant's allowlist; ::ffff:7f00:1 is 127.0.0.1 written IPv4-mapped.
      const server = await tlsServer();
      try {
        const named = await run('tls-inspect', { host: 'tools.localhost.', port: server.port });
        expect(named.status, JSON.stringify(named)).toBe('completed');
        const mapped = await run('tls-inspect', { host: '::ffff:7f00:1', port: server.port });
        expect(mapped.status, JSON.stringify(mapped)).toBe('completed');
        expect(await server.handshakes(2)).toEqual(['tools.localhost', false]);
      } finally {
        await server.close();
      }
    });

    it('runs the real sslscan against that kind of server and parses its XML into protocols, ciphers and findings', async () => {
      const server = await tlsServer();
      try {
        const done = await run('sslscan', { host: '127.0.0.1', port: server.port });
        expect(done.status, JSON.stringify(done)).toBe('completed');
        expect(done.result.protocols).toContainEqual({ type: 'tls', version: '1.3', enabled: true });
        expect(done.result.ciphers.length).toBeGreaterThan(0);
        expect(done.result.findings).toEqual([]);
      } finally {
        await server.close();
      }
    });

    it('runs sslscan with a host name written absolute, its SNI without the trailing dot', async () => {
      const server = await tlsServer();
      try {
        const named = await run('sslscan', { host: 'tools.localhost.', port: server.port });
        expect(named.status, JSON.stringify(named)).toBe('completed');
        expect(new Set(await server.handshakes(1))).toEqual(new Set(['tools.localhost']));
      } finally {
        await server.close();
      }
    });

    it('runs sslscan at an IPv6 address', async () => {
      const server = await tlsServer();
      try {
        const mapped = await run('sslscan', { host: '::ffff:7f00:1', port: server.port });
        expect(mapped.status, JSON.stringify(mapped)).toBe('completed');
        expect(mapped.result.protocols).toContainEqual({ type: 'tls', version: '1.3', enabled: true });
      } finally {
        await server.close();
      }
    });

    it('decodes a JWT and verifies it with a secret, refusing a wrong one', async () => {
      const token = await new SignJWT({ sub: 'user-1', scope: 'tools' })
        .setProtectedHeader({ alg: 'HS256' })
        .setIssuer('https://issuer.test')
        .setExpirationTime('1h')
        .sign(new TextEncoder().encode('s3cret-s3cret-s3cret-s3cret-s3cret!'));
      const good = await run('jwt', {
        token,
        key: 's3cret-s3cret-s3cret-s3cret-s3cret!',
        issuer: 'https://issuer.test',
      });
      expect(good.result).toMatchObject({ verified: true, expired: false, payload: { sub: 'user-1' } });
      expect(good.parameters.key).toBe('[redacted]');
      // The token is a bearer credential too: neither the execution nor any event keeps it.
      expect(good.parameters.token).toBe('[redacted]');
      const stored = await t.store.readAll({ limit: 10_000 });
      expect(JSON.stringify(stored.map((e) => [e.data, e.metadata]))).not.toContain(token.split('.')[2]);
      const bad = await run('jwt', { token, key: 'another-secret-another-secret-another' });
      expect(bad.result.verified).toBe(false);
      expect(bad.result.error).toBe('ERR_JWS_SIGNATURE_VERIFICATION_FAILED');
      const decoded = await run('jwt', { token });
      expect(decoded.result).toMatchObject({ verified: null, header: { alg: 'HS256' } });
    });

    it('looks name@version up in the advisories the package firewall holds', async () => {
      const record = {
        id: 'GHSA-tool-test-0001',
        modified: '2026-01-01T00:00:00Z',
        summary: 'Prototype pollution in left-pad-tools',
        aliases: ['CVE-2026-0001'],
        affected: [
          {
            package: { ecosystem: 'npm', name: 'left-pad-tools' },
            ranges: [{ type: 'SEMVER', events: [{ introduced: '0' }, { fixed: '1.2.0' }] }],
          },
        ],
        database_specific: { severity: 'HIGH' },
      } as unknown as OsvRecord;
      async function* one() {
        yield { ok: true as const, record };
      }
      await importAdvisories(t.database.db as unknown as Kysely<AdvisoryTables>, 'test', one(), 'import-1');
      const hit = await run('osv-lookup', { package: 'left-pad-tools@1.1.0' });
      expect(hit.result.advisories).toEqual([
        expect.objectContaining({ id: 'GHSA-tool-test-0001', aliases: ['CVE-2026-0001'] }),
      ]);
      const fixed = await run('osv-lookup', { package: 'left-pad-tools@1.2.0' });
      expect(fixed.result.advisories).toEqual([]);
    });
  });
}
