import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OFF_THREAD_BYTES, parsesOnThread } from '../../src/packages/lockfile-off-thread.ts';
import { type LooseJson, type SignedInUser, type TestApp, testApp } from '../support/app.ts';
import { freshPGlite } from '../support/databases.ts';
import { lastWritten } from '../support/visibility.ts';

/** A monorepo's pnpm-lock.yaml: `count` packages, a few MB of YAML. */
function bigPnpmLockfile(count: number): string {
  const lines = ["lockfileVersion: '9.0'", '', 'packages:', ''];
  for (let i = 0; i < count; i++) {
    lines.push(
      `  big-${i}@1.0.${i % 100}:`,
      `    resolution: {integrity: sha512-${'A'.repeat(86)}==}`,
      '    engines: {node: ">=18"}',
      '',
    );
  }
  lines.push('snapshots:', '');
  for (let i = 0; i < count; i++) {
    lines.push(
      `  big-${i}@1.0.${i % 100}:`,
      '    dependencies:',
      `      big-${(i + 1) % count}: 1.0.${(i + 1) % 100}`,
      '',
    );
  }
  return lines.join('\n');
}

// One database kind is enough: what is measured is the HTTP process, not the store.
describe('a large YAML lockfile is read off the event loop', { timeout: 300_000 }, () => {
  let t: TestApp;
  let server: Awaited<ReturnType<TestApp['listening']>>;
  let member: SignedInUser;

  beforeAll(async () => {
    t = await testApp(freshPGlite, { env: { WARDEN_LOCKFILE_LIMIT_BYTES: String(32 * 1024 * 1024) } });
    server = await t.listening();
    member = await t.user({ tenant: (await t.tenant()).slug, role: 'member' });
  }, 120_000);
  afterAll(async () => {
    await server?.close();
    await t?.dispose();
  });

  it('answers /health while it reads a pnpm-lock.yaml of megabytes, then accepts the lockfile whole', async () => {
    const body = bigPnpmLockfile(15_000);
    expect(body.length).toBeGreaterThan(20 * OFF_THREAD_BYTES);
    const order: string[] = [];
    const submitted = (async () => {
      const res = await server.request('/v1/package-requests', {
        method: 'POST',
        token: member.token,
        tenant: member.tenantSlug,
        headers: { 'content-type': 'application/yaml' },
        body,
      });
      order.push('lockfile');
      return { status: res.status, body: (await res.json()) as LooseJson };
    })();
    // The test shares the server's process: this poll runs only because the parse does not block it.
    await expect.poll(parsesOnThread, { timeout: 120_000, interval: 5 }).toBe(1);
    const health = await server.request('/health', {});
    order.push('health');
    expect(health.status).toBe(200);
    const result = await submitted;
    expect(order).toEqual(['health', 'lockfile']);
    expect(result.status).toBe(202);
    expect(result.body).toMatchObject({ status: 'received', packages_total: 15_000 });
    expect(Number(await lastWritten(t.database.db))).toBeGreaterThan(0);
  });

  it('abuse: a broken large YAML lockfile is a 422 from the thread, as inline, appending nothing', async () => {
    const body = `${bigPnpmLockfile(2_000)}\n  broken: [unclosed\n`;
    expect(body.length).toBeGreaterThan(OFF_THREAD_BYTES);
    const before = await lastWritten(t.database.db);
    const res = await server.request('/v1/package-requests', {
      method: 'POST',
      token: member.token,
      tenant: member.tenantSlug,
      headers: { 'content-type': 'application/yaml' },
      body,
    });
    expect(res.status).toBe(422);
    const problem = (await res.json()) as LooseJson;
    expect(problem.errors[0].message).toMatch(/not valid YAML/);
    expect(await lastWritten(t.database.db)).toBe(before);
  });
});
