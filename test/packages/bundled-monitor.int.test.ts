import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { packageIdFor, packageStreamId } from '../../src/commands/packages/index.ts';
import type { LooseJson, SignedInUser } from '../support/app.ts';
import { gzip } from '../support/fixture-packages.ts';
import { databaseKinds } from '../support/postgres.ts';
import { rawTar } from '../support/raw-tar.ts';
import { type CraftedFirewall, craftedFirewall } from './crafted-tarballs.ts';

/** A clean package (1.0.0) shipping `bundled` (name → version) inside its tarball. */
const bundling = (name: string, bundled: Record<string, string>) =>
  gzip(
    rawTar([
      {
        path: 'package/package.json',
        content: JSON.stringify({
          name,
          version: '1.0.0',
          license: 'MIT',
          dependencies: bundled,
          bundleDependencies: Object.keys(bundled),
        }),
      },
      ...Object.entries(bundled).map(([dep, version]) => ({
        path: `package/node_modules/${dep}/package.json`,
        content: JSON.stringify({ name: dep, version, license: 'MIT' }),
      })),
    ]),
  );

const advisory = (
  id: string,
  name: string,
  events: Record<string, string>[],
  modified = '2026-03-01T00:00:00Z',
) => ({
  id,
  modified,
  summary: `Prototype pollution in ${name}`,
  database_specific: { severity: 'HIGH' },
  affected: [{ package: { ecosystem: 'npm', name }, ranges: [{ type: 'SEMVER', events }] }],
});
/** bdm-dep below 1.3.0: the 1.2.3 bdm-app bundles, not the 2.0.0 bdm-other does. */
const depAdvisory = (modified?: string) =>
  advisory('GHSA-bdm0-dep0-0001', 'bdm-dep', [{ introduced: '1.0.0' }, { fixed: '1.3.0' }], modified);
/** bdm-safe from 4.0.0 on: the 3.0.0 bdm-app bundles is not affected. */
const safeAdvisory = advisory('GHSA-bdm0-safe-0001', 'bdm-safe', [{ introduced: '4.0.0' }]);

for (const kind of databaseKinds) {
  describe(`firewall: new advisories reach packages bundled inside a package already let in (${kind.name})`, () => {
    let f: CraftedFirewall;
    let other: SignedInUser;
    const discovered = async (tenantId: string, spec: string) =>
      (await f.t.store.readStream(packageStreamId(await packageIdFor(tenantId, spec))))
        .filter((e) => e.type === 'FindingDiscovered')
        .map((e) => ({
          id: (e.data as { finding: { id: string } }).finding.id,
          tenantId: e.metadata.tenantId,
        }));
    const attention = async (spec: string, user: SignedInUser = f.member) =>
      expect
        .poll(async () => (await f.settled(spec, user)).attention, { timeout: 30_000, interval: 50 })
        .toBe(true);

    beforeAll(async () => {
      f = await craftedFirewall({
        database: kind.fresh,
        app: 'bundled-monitor-app',
        tarballs: {
          'bdm-app': await bundling('bdm-app', { 'bdm-dep': '1.2.3', 'bdm-safe': '3.0.0' }),
          'bdm-other': await bundling('bdm-other', { 'bdm-dep': '2.0.0' }),
          'bdm-late': await bundling('bdm-late', { 'bdm-dep': '1.2.3' }),
        },
        // Advisory data about something else: scans run, and find nothing.
        advisories: [advisory('GHSA-bdm0-none-0000', 'bdm-unrelated', [{ introduced: '0' }])],
        lockfile: ['bdm-app'],
      });
      other = await f.t.user({ role: 'member' });
      await f.submit(other, ['bdm-other']);
    }, 120_000);

    afterAll(() => f?.stop());

    it('lets in clean a package whose bundled dependency no advisory names yet (another tenant bundles another version)', async () => {
      expect(await f.settled('bdm-app@1.0.0')).toMatchObject({
        status: 'published',
        findings: [],
        attention: false,
      });
      expect(await f.settled('bdm-other@1.0.0', other)).toMatchObject({ status: 'published', findings: [] });
    });

    it('flags it when an import adds an advisory for the bundled version, with the id a scan would give the finding', async () => {
      expect(await f.importAdvisories([depAdvisory(), safeAdvisory])).toMatchObject({
        changed: 2,
        recorded: true,
      });
      await attention('bdm-app@1.0.0');
      const flagged = await f.settled('bdm-app@1.0.0');
      // The 3.0.0 of bdm-safe is outside its advisory's range: no finding for it.
      expect(flagged.findings).toEqual([
        expect.objectContaining({
          id: 'GHSA-bdm0-dep0-0001:bundled:bdm-dep@1.2.3',
          kind: 'vulnerability',
          severity: 'high',
          summary: 'bundled bdm-dep@1.2.3: Prototype pollution in bdm-dep',
          fixVersion: '1.3.0',
        }),
      ]);
      expect(await discovered(f.member.tenantId, 'bdm-app@1.0.0')).toEqual([
        { id: 'GHSA-bdm0-dep0-0001:bundled:bdm-dep@1.2.3', tenantId: f.member.tenantId },
      ]);
      // The other tenant's package bundles 2.0.0, which the advisory does not cover: untouched. (The
      // monitor records one import's findings in one transaction, so it has run for this one too.)
      expect(await discovered(other.tenantId, 'bdm-other@1.0.0')).toEqual([]);
      expect(await f.settled('bdm-other@1.0.0', other)).toMatchObject({ findings: [], attention: false });
      const listed = await f.t.request('/v1/packages?attention=true', {
        token: other.token,
        tenant: other.tenantSlug,
      });
      expect(((await listed.json()) as LooseJson).items).toEqual([]);
    });

    it('records a finding once: neither one the scan found nor one the monitor recorded is discovered again', async () => {
      // Scanned after the advisory came: the scan finds it, and the package waits for an approver.
      await f.submit(f.member, ['bdm-late']);
      const held = await f.settled('bdm-late@1.0.0');
      expect(held).toMatchObject({
        status: 'awaiting_approval',
        reasons: ['GHSA-bdm0-dep0-0001:bundled:bdm-dep@1.2.3'],
      });
      // The advisory changes again, and a second one comes for the same bundled version.
      const second = advisory('GHSA-bdm0-dep0-0002', 'bdm-dep', [{ introduced: '0' }, { fixed: '1.2.4' }]);
      expect(await f.importAdvisories([depAdvisory('2026-04-01T00:00:00Z'), second])).toMatchObject({
        changed: 2,
        recorded: true,
      });
      await expect
        .poll(async () => (await discovered(f.member.tenantId, 'bdm-late@1.0.0')).map((d) => d.id), {
          timeout: 30_000,
          interval: 50,
        })
        .toEqual(['GHSA-bdm0-dep0-0002:bundled:bdm-dep@1.2.3']);
      expect((await discovered(f.member.tenantId, 'bdm-app@1.0.0')).map((d) => d.id)).toEqual([
        'GHSA-bdm0-dep0-0001:bundled:bdm-dep@1.2.3',
        'GHSA-bdm0-dep0-0002:bundled:bdm-dep@1.2.3',
      ]);
      expect(await discovered(other.tenantId, 'bdm-other@1.0.0')).toEqual([]);
    });

    it('keeps the bundled packages, each row in its tenant, through a rebuild of the package list', async () => {
      const rows = async () =>
        (
          await sql<{ tenant_id: string; package_id: string; name: string; version: string }>`
            select tenant_id, package_id, name, version from package_bundled order by package_id, name, version`.execute(
            f.t.database.db,
          )
        ).rows;
      const before = await rows();
      const app = await packageIdFor(f.member.tenantId, 'bdm-app@1.0.0');
      const late = await packageIdFor(f.member.tenantId, 'bdm-late@1.0.0');
      const others = await packageIdFor(other.tenantId, 'bdm-other@1.0.0');
      const expected = [
        { tenant_id: f.member.tenantId, package_id: app, name: 'bdm-dep', version: '1.2.3' },
        { tenant_id: f.member.tenantId, package_id: app, name: 'bdm-safe', version: '3.0.0' },
        { tenant_id: f.member.tenantId, package_id: late, name: 'bdm-dep', version: '1.2.3' },
        { tenant_id: other.tenantId, package_id: others, name: 'bdm-dep', version: '2.0.0' },
      ];
      expect(before).toEqual(expect.arrayContaining(expected));
      expect(before).toHaveLength(expected.length);
      await f.t.engine.rebuild('packageList');
      expect(await rows()).toEqual(before);
    });
  });
}
