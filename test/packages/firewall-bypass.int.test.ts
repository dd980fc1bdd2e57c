import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LooseJson } from '../support/app.ts';
import { gzip } from '../support/fixture-packages.ts';
import { databaseKinds } from '../support/postgres.ts';
import { rawTar } from '../support/raw-tar.ts';
import { type CraftedFirewall, craftedFirewall } from './crafted-tarballs.ts';

const manifestOf = (name: string, extra: Record<string, unknown> = {}) =>
  JSON.stringify({ name, version: '1.0.0', license: 'MIT', ...extra });
const evil = { scripts: { postinstall: 'node evil.js' } };

/**
 * Tarballs built byte by byte, published to a real registry, requested through Warden's API and
 * checked by its pipeline: each hides install-time execution from a scanner that reads tar paths
 * differently from npm's extractor, or that trusts the tarball's package.json alone.
 */
async function tarballs() {
  return {
    // A clean package.json, then one npm's extractor writes over it (`.` and empty segments vanish).
    'fwb-dot': await gzip(
      rawTar([
        { path: 'package/package.json', content: manifestOf('fwb-dot') },
        { path: 'package/./package.json', content: manifestOf('fwb-dot', evil) },
        { path: 'package/evil.js', content: 'process.exit(1)' },
      ]),
    ),
    'fwb-slash': await gzip(
      rawTar([
        { path: 'package/package.json', content: manifestOf('fwb-slash') },
        { path: 'package//package.json', content: manifestOf('fwb-slash', evil) },
      ]),
    ),
    // No script at all, but npm runs `node-gyp rebuild` for a binding.gyp at the root.
    'fwb-gyp': await gzip(
      rawTar([
        { path: 'package/package.json', content: manifestOf('fwb-gyp') },
        { path: 'package/binding.gyp', content: '{ "targets": [{ "target_name": "x", "sources": [] }] }' },
      ]),
    ),
    // A clean tarball whose registry document names a postinstall npm may run.
    'fwb-meta': await gzip(
      rawTar([
        { path: 'package/package.json', content: manifestOf('fwb-meta') },
        { path: 'package/evil.js', content: 'process.exit(1)' },
      ]),
    ),
  };
}

for (const kind of databaseKinds) {
  describe(`firewall: install-time execution hidden from the scan (${kind.name})`, () => {
    let f: CraftedFirewall;
    const settled = (spec: string) => f.settled(spec);

    beforeAll(async () => {
      f = await craftedFirewall({
        database: kind.fresh,
        app: 'bypass-app',
        tarballs: await tarballs(),
        registryDocuments: {
          // What npm publish writes for a binding.gyp: the registry agrees with the tarball.
          'fwb-gyp': { scripts: { install: 'node-gyp rebuild' }, gypfile: true },
          'fwb-meta': { ...evil },
        },
        // Advisory data that names none of these: a clean scan approves (and publishes) at once.
        advisories: [
          {
            id: 'GHSA-none-0000',
            modified: '2026-01-01T00:00:00Z',
            affected: [{ package: { ecosystem: 'npm', name: 'fwb-unrelated' }, versions: ['1.0.0'] }],
          },
        ],
        settledIn: ['published', 'approved', 'awaiting_approval', 'failed', 'rejected'],
      });
    }, 120_000);

    afterAll(() => f?.stop());

    it.each(['fwb-dot', 'fwb-slash'])(
      'refuses %s, whose second package.json (spelled so npm writes it over the first) has a postinstall',
      async (name) => {
        const settledStatus = await settled(`${name}@1.0.0`);
        expect(settledStatus.status).toBe('failed');
        expect(settledStatus.failure).toMatchObject({ stage: 'download', code: 'malformed_tarball' });
        expect((await fetch(`${f.target.url}/${name}`)).status).toBe(404);
      },
    );

    it('holds a package with a root binding.gyp for an approver: npm compiles it on install', async () => {
      const held = await settled('fwb-gyp@1.0.0');
      expect(held.status).toBe('awaiting_approval');
      expect(held.reasons).toEqual(['install_script:binding.gyp']);
      expect(held.findings.map((f: LooseJson) => f.id)).toEqual(['install_script:binding.gyp']);
      expect((await fetch(`${f.target.url}/fwb-gyp`)).status).toBe(404);
    });

    it('holds a clean tarball whose registry document names a postinstall for an approver', async () => {
      const held = await settled('fwb-meta@1.0.0');
      expect(held.status).toBe('awaiting_approval');
      expect(held.reasons).toEqual(['install_script:registry_metadata']);
      expect(held.findings.map((f: LooseJson) => f.id)).toEqual(['install_script:registry_metadata']);
      expect((await fetch(`${f.target.url}/fwb-meta`)).status).toBe(404);
    });
  });
}
