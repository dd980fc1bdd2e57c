import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { strToU8, zipSync } from 'fflate';
import semver from 'semver';
import { describe, expect, it } from 'vitest';
import { editDistance, heuristicFindings, lookalikeOf } from '../../src/packages/heuristics.ts';
import { evaluateLicense, normalizeLicense, sameLicense } from '../../src/packages/license.ts';
import { cvss3BaseScore } from '../../src/packages/osv/cvss.ts';
import { affectedVersions, findingFrom, isMalicious, isWithdrawn } from '../../src/packages/osv/match.ts';
import { OsvRecord } from '../../src/packages/osv/record.ts';
import { readOsvSource } from '../../src/packages/osv/source.ts';

const open = { allow: [], deny: ['AGPL-3.0-only'] };

describe('licenses', () => {
  it('normalises the legacy forms explicitly', () => {
    expect(normalizeLicense('MIT')).toEqual({ expression: 'MIT' });
    expect(normalizeLicense({ type: 'ISC' })).toEqual({ expression: 'ISC', problem: 'legacy_object' });
    expect(normalizeLicense([{ type: 'MIT' }, { type: 'Apache-2.0' }])).toEqual({
      expression: '(MIT OR Apache-2.0)',
      problem: 'legacy_array',
    });
    expect(normalizeLicense(undefined)).toEqual({ expression: null, problem: 'missing' });
    expect(normalizeLicense(42)).toEqual({ expression: null, problem: 'unparsable' });
  });

  it.each([
    ['MIT OR Apache-2.0', open, 'allowed'],
    ['(MIT AND CC-BY-3.0)', open, 'allowed'],
    ['MIT OR AGPL-3.0-only', open, 'allowed'],
    ['MIT AND AGPL-3.0-only', open, 'denied'],
    ['AGPL-3.0-only', open, 'denied'],
    ['Apache-2.0', { allow: ['MIT'], deny: [] }, 'denied'],
    ['SEE LICENSE IN LICENSE.md', open, 'unknown'],
    ['UNLICENSED', open, 'unknown'],
    ['Apache 2', open, 'unknown'],
    ['LicenseRef-Acme', open, 'unknown'],
    ['GPL-2.0-only WITH Classpath-exception-2.0', open, 'allowed'],
    [null, open, 'missing'],
  ] as const)('%s → %s', (expression, policy, verdict) => {
    expect(evaluateLicense(expression, policy).verdict).toBe(verdict);
  });

  it('reports deprecated identifiers and suggests a correction without applying it', () => {
    expect(evaluateLicense('GPL-2.0', open)).toMatchObject({ verdict: 'allowed', deprecated: ['GPL-2.0'] });
    expect(evaluateLicense('Apache 2', open).corrected).toBe('Apache-2.0');
  });

  it('compares licenses by meaning', () => {
    expect(sameLicense('MIT OR Apache-2.0', '(apache-2.0 OR MIT)')).toBe(true);
    expect(sameLicense('MIT', 'ISC')).toBe(false);
  });
});

const record = (overrides: Record<string, unknown>) =>
  OsvRecord.parse({
    id: 'GHSA-test-0001',
    modified: '2026-01-01T00:00:00Z',
    affected: [
      {
        package: { ecosystem: 'npm', name: 'pkg' },
        ranges: [{ type: 'SEMVER', events: [{ introduced: '0' }, { fixed: '1.2.0' }] }],
      },
    ],
    ...overrides,
  });

describe('OSV matching', () => {
  it('evaluates introduced/fixed/last_affected/limit with npm ordering, prereleases included', () => {
    const events = (e: Record<string, string>[]) =>
      record({
        affected: [
          { package: { ecosystem: 'npm', name: 'pkg' }, ranges: [{ type: 'ECOSYSTEM', events: e }] },
        ],
      });
    const fixed = events([
      { introduced: '1.0.0' },
      { fixed: '1.4.0' },
      { introduced: '2.0.0-beta.1' },
      { fixed: '2.0.1' },
    ]);
    const affected = (r: OsvRecord, v: string) => affectedVersions(r, 'pkg', v).affected;
    expect(
      ['0.9.0', '1.0.0', '1.3.9', '1.4.0', '2.0.0-alpha', '2.0.0-beta.1', '2.0.0', '2.0.1'].map((v) =>
        affected(fixed, v),
      ),
    ).toEqual([false, true, true, false, false, true, true, false]);
    expect(affectedVersions(fixed, 'pkg', '1.1.0').fixVersion).toBe('1.4.0');
    const last = events([{ introduced: '0' }, { last_affected: '3.1.0' }]);
    expect(['3.1.0', '3.1.1'].map((v) => affected(last, v))).toEqual([true, false]);
    const limited = events([{ introduced: '0' }, { limit: '5.0.0' }]);
    expect(['4.9.9', '5.0.0'].map((v) => affected(limited, v))).toEqual([true, false]);
    expect(
      affected(
        record({ affected: [{ package: { ecosystem: 'npm', name: 'pkg' }, versions: ['9.9.9'] }] }),
        '9.9.9',
      ),
    ).toBe(true);
    expect(affectedVersions(fixed, 'other', '1.1.0').affected).toBe(false);
  });

  it('introduced a, fixed b: affected exactly when a ≤ v < b', () => {
    const version = fc.tuple(fc.nat(9), fc.nat(9), fc.nat(9)).map((v) => v.join('.'));
    fc.assert(
      fc.property(version, version, version, (a, b, v) => {
        fc.pre(semver.lt(a, b));
        const r = record({
          affected: [
            {
              package: { ecosystem: 'npm', name: 'pkg' },
              ranges: [{ type: 'SEMVER', events: [{ introduced: a }, { fixed: b }] }],
            },
          ],
        });
        expect(affectedVersions(r, 'pkg', v).affected).toBe(semver.gte(v, a) && semver.lt(v, b));
      }),
    );
  });

  it('takes severity from CVSS v3, else the advisory’s rating; MAL- records are malicious and critical; withdrawn is seen', () => {
    expect(cvss3BaseScore('CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H')).toBe(9.8);
    expect(cvss3BaseScore('CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:C/C:H/I:H/A:H')).toBe(10);
    expect(cvss3BaseScore('CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:U/C:L/I:L/A:N')).toBe(5.4);
    expect(cvss3BaseScore('CVSS:3.0/AV:L/AC:H/PR:H/UI:R/S:U/C:N/I:N/A:N')).toBe(0);
    const cvss = record({
      severity: [{ type: 'CVSS_V3', score: 'CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:U/C:L/I:L/A:N' }],
      aliases: ['CVE-1'],
    });
    expect(findingFrom(cvss, 'pkg', '1.0.0')).toMatchObject({
      severity: 'medium',
      fixVersion: '1.2.0',
      aliases: ['CVE-1'],
    });
    expect(
      findingFrom(record({ database_specific: { severity: 'MODERATE' } }), 'pkg', '1.0.0').severity,
    ).toBe('medium');
    const malicious = record({ id: 'MAL-2026-7' });
    expect(isMalicious(malicious)).toBe(true);
    expect(findingFrom(malicious, 'pkg', '1.0.0')).toMatchObject({ kind: 'malicious', severity: 'critical' });
    expect(isWithdrawn(record({ withdrawn: '2026-02-01T00:00:00Z' }))).toBe(true);
  });

  it('reads a folder and a zip of OSV files, reporting files that are not records', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'warden-osv-unit-'));
    try {
      writeFileSync(join(dir, 'a.json'), JSON.stringify(record({})));
      writeFileSync(join(dir, 'b.json'), '{ not json');
      writeFileSync(join(dir, 'c.json'), JSON.stringify({ summary: 'no id' }));
      const collect = async (path: string) => {
        const items = [];
        for await (const item of readOsvSource(path)) items.push(item);
        return items.map((i) => (i.ok ? i.record.id : 'error'));
      };
      expect(await collect(dir)).toEqual(['GHSA-test-0001', 'error', 'error']);
      const zip = join(dir, 'all.zip');
      writeFileSync(
        zip,
        zipSync({ 'GHSA-test-0001.json': strToU8(JSON.stringify(record({}))), 'x.json': strToU8('[]') }),
      );
      expect(await collect(zip)).toEqual(['GHSA-test-0001', 'error']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('heuristics', () => {
  it('finds install scripts, missing and mismatched licenses, lookalike names and deprecations', () => {
    const findings = heuristicFindings({
      name: 'lodahs',
      version: '1.0.0',
      manifest: { name: 'lodahs', scripts: { postinstall: 'node steal.js', test: 'x' }, license: 'ISC' },
      lockfileLicense: 'MIT',
      deprecated: 'do not use',
    });
    expect(findings.map((f) => f.id)).toEqual([
      'install_script',
      'license_mismatch',
      'typosquat:lodash',
      'deprecated',
    ]);
    expect(heuristicFindings({ name: 'lodash', version: '4.17.21', manifest: { license: 'MIT' } })).toEqual(
      [],
    );
    expect(heuristicFindings({ name: 'quiet', version: '1.0.0', manifest: {} }).map((f) => f.id)).toEqual([
      'missing_license',
    ]);
  });

  it('flags install-time execution the tarball’s scripts do not show: a root binding.gyp, registry metadata that disagrees', () => {
    const ids = (input: Partial<Parameters<typeof heuristicFindings>[0]>) =>
      heuristicFindings({
        name: 'native-thing',
        version: '1.0.0',
        manifest: { license: 'MIT' },
        ...input,
      }).map((f) => f.id);
    expect(ids({ bindingGyp: true })).toEqual(['install_script:binding.gyp']);
    // npm publish writes `install: node-gyp rebuild` into the registry's document for a binding.gyp: that agrees.
    expect(
      ids({
        bindingGyp: true,
        registryManifest: { scripts: { install: 'node-gyp rebuild' }, hasInstallScript: true },
      }),
    ).toEqual(['install_script:binding.gyp']);
    // With `gypfile: false` npm publish writes no script for it, and the registry agrees with nothing.
    expect(
      ids({
        bindingGyp: true,
        manifest: { license: 'MIT', gypfile: false },
        registryManifest: { gypfile: false },
      }),
    ).toEqual(['install_script:binding.gyp']);
    expect(ids({ registryManifest: { scripts: { postinstall: 'node evil.js' } } })).toEqual([
      'install_script:registry_metadata',
    ]);
    expect(ids({ registryManifest: { hasInstallScript: true } })).toEqual([
      'install_script:registry_metadata',
    ]);
    expect(
      ids({
        manifest: { license: 'MIT', scripts: { postinstall: 'node a.js' } },
        registryManifest: { scripts: { postinstall: 'node b.js' } },
      }),
    ).toEqual(['install_script', 'install_script:registry_metadata']);
    expect(
      ids({
        manifest: { license: 'MIT', scripts: { postinstall: 'node a.js' } },
        registryManifest: { scripts: { postinstall: 'node a.js', test: 'x' }, hasInstallScript: true },
      }),
    ).toEqual(['install_script']);
    expect(ids({ registryManifest: { scripts: { test: 'vitest' }, hasInstallScript: false } })).toEqual([]);
  });

  it('sees lookalikes of popular names, not the popular names themselves', () => {
    expect(lookalikeOf('expres')).toBe('express');
    expect(lookalikeOf('@types/lodahs')).toBe('lodash');
    expect(lookalikeOf('express')).toBeUndefined();
    expect(lookalikeOf('warden-internal-tool')).toBeUndefined();
  });

  it('edit distance counts an adjacent swap as one edit and stops above the bound', () => {
    expect(editDistance('lodash', 'lodahs', 2)).toBe(1);
    expect(editDistance('kitten', 'sitting', 5)).toBe(3);
    expect(editDistance('abc', 'xyzxyz', 1)).toBe(2);
  });
});
