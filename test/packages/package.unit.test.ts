import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  defaultPolicy,
  evaluate,
  type Finding,
  MAX_BUNDLED_PACKAGES,
  type PackageCommand,
  type PackageEvent,
  type PolicySnapshot,
  packageDecider,
  policyDecider,
} from '../../src/commands/packages/index.ts';
import { specFor } from '../support/decider-spec.ts';

const spec = specFor(packageDecider);
const at = '2026-11-24T10:00:00.000Z';
const later = '2026-11-24T11:00:00.000Z';
const packageId = '6f1c3a52-1d1e-4c7e-9a51-0c1f2b3d4e5f';
const tenantId = '0b7d3f1e-2a4c-4e6f-8a1b-3c5d7e9f1a2b';
const requestId = 'a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d';
const base = { packageId, tenantId, spec: 'left-pad@1.3.0', at };
const policy: PolicySnapshot = { ...defaultPolicy, version: 0 };

const received: PackageEvent = {
  type: 'PackageReceived',
  data: {
    ...base,
    name: 'left-pad',
    version: '1.3.0',
    integrity: 'sha512-abc',
    lockfileLicense: 'WTFPL',
    requestId,
  },
};
const started: PackageEvent = { type: 'PackageProcessingStarted', data: { ...base, attempt: 1 } };
const licensed: PackageEvent = {
  type: 'LicenseChecked',
  data: {
    ...base,
    expression: 'WTFPL',
    source: 'lockfile',
    verdict: 'allowed',
    reason: 'allowed',
    policyVersion: 0,
  },
};
const downloaded: PackageEvent = {
  type: 'PackageDownloaded',
  data: {
    ...base,
    integrity: 'sha512-abc',
    shasum: 'deadbeef',
    size: 100,
    unpackedSize: 300,
    manifestLicense: 'WTFPL',
    deprecated: null,
  },
};
const script: Finding = {
  id: 'install_script',
  kind: 'install_script',
  severity: 'medium',
  summary: 'runs postinstall',
};
const malicious: Finding = {
  id: 'MAL-2026-1',
  kind: 'malicious',
  severity: 'critical',
  summary: 'steals tokens',
};
const scannedWith = (findings: Finding[]): PackageEvent => ({
  type: 'PackageScanned',
  data: { ...base, findings, advisories: 'osv-1', unavailable: [] },
});
const waiting = (reasons: string[]): PackageEvent => ({
  type: 'ApprovalRequired',
  data: { ...base, reasons, policyVersion: 0 },
});

describe('package decider', () => {
  it('receives a package once: a second request naming it appends nothing', () => {
    const { type: _, ...data } = received;
    spec
      .given([])
      .when({ type: 'ReceivePackage', ...data.data } as never)
      .thenEvents([received]);
    spec
      .given([received])
      .when({ type: 'ReceivePackage', ...data.data } as never)
      .thenEvents([]);
  });

  it('auto-approves a clean scan and asks an approver when a finding blocks', () => {
    spec
      .given([received, started, licensed, downloaded])
      .when({ type: 'RecordScan', findings: [], advisories: 'osv-1', unavailable: [], policy, at })
      .thenEvents([
        scannedWith([]),
        { type: 'PackageAutoApproved', data: { ...base, policyVersion: 0, warnings: [] } },
      ]);
    spec
      .given([received, started, licensed, downloaded])
      .when({ type: 'RecordScan', findings: [script], advisories: 'osv-1', unavailable: [], policy, at })
      .thenEvents([scannedWith([script]), waiting(['install_script'])]);
  });

  it('records the bundled packages with the scan: the first MAX_BUNDLED_PACKAGES of them, in the order given', () => {
    const bundled = Array.from({ length: MAX_BUNDLED_PACKAGES + 1 }, (_, i) => ({
      name: `dep-${String(i).padStart(4, '0')}`,
      version: '1.0.0',
    }));
    const when: Extract<PackageCommand, { type: 'RecordScan' }> = {
      type: 'RecordScan',
      findings: [],
      advisories: 'osv-1',
      unavailable: [],
      policy,
      at,
    };
    spec
      .given([received, started, licensed, downloaded])
      .when({ ...when, bundled: bundled.slice(0, 2) })
      .thenEvents([
        {
          type: 'PackageScanned',
          data: { ...base, findings: [], advisories: 'osv-1', unavailable: [], bundled: bundled.slice(0, 2) },
        },
        { type: 'PackageAutoApproved', data: { ...base, policyVersion: 0, warnings: [] } },
      ]);
    const state = [received, started, licensed, downloaded].reduce(
      packageDecider.evolve,
      packageDecider.initialState(),
    );
    const [scanned] = packageDecider.decide({ ...when, bundled }, state);
    expect(scanned).toMatchObject({
      type: 'PackageScanned',
      data: { bundled: bundled.slice(0, MAX_BUNDLED_PACKAGES) },
    });
  });

  it('records a finding once per id: one the scan found, or one discovered before, is not discovered again', () => {
    const bundledFinding: Finding = {
      id: 'GHSA-x:bundled:dep@1.0.0',
      kind: 'vulnerability',
      severity: 'low',
      summary: 'bundled dep@1.0.0: x',
    };
    const approved: PackageEvent = {
      type: 'PackageAutoApproved',
      data: { ...base, policyVersion: 0, warnings: [] },
    };
    const history = [received, started, licensed, downloaded, scannedWith([bundledFinding]), approved];
    const record = (finding: Finding) =>
      ({ type: 'RecordFinding', finding, advisories: 'osv-2', at: later }) as const;
    spec.given(history).when(record(bundledFinding)).thenEvents([]);
    const other = { ...bundledFinding, id: 'GHSA-y:bundled:dep@1.0.0' };
    const discovered: PackageEvent = {
      type: 'FindingDiscovered',
      data: { ...base, at: later, finding: other, advisories: 'osv-2' },
    };
    spec.given(history).when(record(other)).thenEvents([discovered]);
    spec
      .given([...history, discovered])
      .when(record(other))
      .thenEvents([]);
  });

  it('fails closed: a scan that could not run waits for an approver, even in warn mode', () => {
    spec
      .given([received, started, licensed, downloaded])
      .when({
        type: 'RecordScan',
        findings: [],
        advisories: null,
        unavailable: ['osv: no advisory data imported'],
        policy: { ...policy, mode: 'warn' },
        at,
      })
      .thenEvents([
        {
          type: 'PackageScanned',
          data: { ...base, findings: [], advisories: null, unavailable: ['osv: no advisory data imported'] },
        },
        waiting(['scan_unavailable']),
      ]);
  });

  it('rejects a denied license before downloading, unless the policy only warns', () => {
    const denied = {
      type: 'RecordLicense' as const,
      expression: 'AGPL-3.0-only',
      verdict: 'denied' as const,
      reason: 'AGPL-3.0-only is denied',
      policy,
      at,
    };
    const checked = {
      ...base,
      expression: 'AGPL-3.0-only',
      source: 'lockfile' as const,
      verdict: 'denied' as const,
      reason: 'AGPL-3.0-only is denied',
      policyVersion: 0,
    };
    spec
      .given([received, started])
      .when(denied)
      .thenEvents([
        { type: 'LicenseChecked', data: checked },
        {
          type: 'PackageRejected',
          data: {
            ...base,
            by: 'policy',
            stage: 'license',
            code: 'license_denied',
            reason: 'AGPL-3.0-only is denied',
            policyVersion: 0,
          },
        },
      ]);
    spec
      .given([received, started])
      .when({ ...denied, policy: { ...policy, mode: 'warn' } })
      .thenEvents([{ type: 'LicenseChecked', data: checked }]);
  });

  it('lets an approver approve a waiting package, never a malicious one', () => {
    const scanned = [
      received,
      started,
      licensed,
      downloaded,
      scannedWith([script]),
      waiting(['install_script']),
    ];
    spec
      .given(scanned)
      .when({ type: 'Approve', by: 'u1', reason: 'reviewed the script', policy, at })
      .thenEvents([
        {
          type: 'PackageApproved',
          data: { ...base, by: 'u1', reason: 'reviewed the script', policyVersion: 0 },
        },
      ]);
    spec
      .given([received, started, licensed, downloaded, scannedWith([malicious]), waiting(['MAL-2026-1'])])
      .when({ type: 'Approve', by: 'u1', reason: 'looks fine', policy, at })
      .thenFails('RULE_VIOLATED', 'malicious_package');
    spec
      .given([received])
      .when({ type: 'Approve', by: 'u1', reason: 'early', policy, at })
      .thenFails('CONFLICT');
  });

  it('a waiver of the only blocking finding moves a waiting package on; malicious findings cannot be waived', () => {
    const scanned = [
      received,
      started,
      licensed,
      downloaded,
      scannedWith([script]),
      waiting(['install_script']),
    ];
    const waived = {
      type: 'FindingWaived' as const,
      data: { ...base, findingId: 'install_script', by: 'u1', reason: 'known build step', expiresAt: later },
    };
    spec
      .given(scanned)
      .when({
        type: 'Waive',
        findingId: 'install_script',
        by: 'u1',
        reason: 'known build step',
        expiresAt: later,
        policy,
        at,
      })
      .thenEvents([
        waived,
        { type: 'PackageAutoApproved', data: { ...base, policyVersion: 0, warnings: ['install_script'] } },
      ]);
    spec
      .given([received, started, licensed, downloaded, scannedWith([malicious]), waiting(['MAL-2026-1'])])
      .when({ type: 'Waive', findingId: 'MAL-2026-1', by: 'u1', reason: 'x', expiresAt: later, policy, at })
      .thenFails('RULE_VIOLATED', 'not_waivable');
    spec
      .given(scanned)
      .when({ type: 'Waive', findingId: 'install_script', by: 'u1', reason: 'x', expiresAt: at, policy, at })
      .thenFails('INVALID');
  });

  it('publishes once: a second publish record after the first appends nothing', () => {
    const approved: PackageEvent = {
      type: 'PackageAutoApproved',
      data: { ...base, policyVersion: 0, warnings: [] },
    };
    const publishing: PackageEvent = { type: 'PackagePublishing', data: { ...base, attempt: 1 } };
    const history = [received, started, licensed, downloaded, scannedWith([]), approved, publishing];
    const record = {
      type: 'RecordPublished' as const,
      registry: 'http://127.0.0.1:4873/',
      integrity: 'sha512-abc',
      outcome: 'already_present' as const,
      at,
    };
    spec
      .given(history)
      .when(record)
      .thenEvents([
        {
          type: 'PackagePublished',
          data: {
            ...base,
            registry: 'http://127.0.0.1:4873/',
            integrity: 'sha512-abc',
            outcome: 'already_present',
          },
        },
      ]);
    const published: PackageEvent = {
      type: 'PackagePublished',
      data: { ...base, registry: 'http://127.0.0.1:4873/', integrity: 'sha512-abc', outcome: 'published' },
    };
    spec
      .given([...history, published])
      .when(record)
      .thenEvents([]);
  });

  it('checks a package refused for its integrity again when another lockfile names other bytes, and only then', () => {
    const mismatch: PackageEvent = {
      type: 'PackageRejected',
      data: {
        ...base,
        by: 'policy',
        stage: 'download',
        code: 'integrity_mismatch',
        reason: 'the tarball does not match sha512-abc',
        policyVersion: null,
      },
    };
    const rejected = [received, started, licensed, mismatch];
    const retry = (integrity: string) => ({ type: 'RetryWithIntegrity' as const, integrity, by: 'u2', at });
    spec
      .given(rejected)
      .when(retry('sha512-right'))
      .thenEvents([
        {
          type: 'PackageRetried',
          data: { ...base, by: 'u2', resume: 'received', integrity: 'sha512-right' },
        },
      ]);
    // From then on the bytes are checked against that lockfile's integrity.
    const again = packageDecider.decide(
      retry('sha512-right'),
      [...rejected].reduce(packageDecider.evolve, packageDecider.initialState()),
    );
    const state = [...rejected, ...again].reduce(packageDecider.evolve, packageDecider.initialState());
    expect(state).toMatchObject({ status: 'received', lockfileIntegrity: 'sha512-right', rejectedFor: null });
    // The same claim again, a package rejected for another reason, or one that is not rejected: nothing.
    spec.given(rejected).when(retry('sha512-abc')).thenEvents([]);
    spec
      .given([received, started, { ...mismatch, data: { ...mismatch.data, code: 'manual' } }])
      .when(retry('sha512-right'))
      .thenEvents([]);
    spec.given([received, started, licensed, downloaded]).when(retry('sha512-wrong')).thenEvents([]);
  });

  it('a failed publish is retried from publishing, a failed download from the start', () => {
    const failedAt = (stage: 'publish' | 'download'): PackageEvent => ({
      type: 'PackageFailed',
      data: { ...base, stage, code: 'unavailable', reason: 'registry down', retryable: true, attempts: 5 },
    });
    spec
      .given([received, started, licensed, failedAt('download')])
      .when({ type: 'Retry', by: 'u1', at })
      .thenEvents([{ type: 'PackageRetried', data: { ...base, by: 'u1', resume: 'received' } }]);
    spec
      .given([received, started, licensed, downloaded, scannedWith([]), failedAt('publish')])
      .when({ type: 'Retry', by: 'u1', at })
      .thenEvents([{ type: 'PackageRetried', data: { ...base, by: 'u1', resume: 'approved' } }]);
  });
});

describe('policy evaluation', () => {
  const kinds = ['vulnerability', 'install_script', 'typosquat', 'deprecated', 'missing_license'] as const;
  const severity = fc.constantFrom('critical', 'high', 'medium', 'low', 'info' as const);
  const finding = fc.record({
    id: fc.string({ minLength: 1, maxLength: 10 }),
    kind: fc.constantFrom(...kinds),
    severity,
    summary: fc.constant('x'),
  });

  it('never approves a package with a malicious finding, whatever the policy and waivers', () => {
    fc.assert(
      fc.property(
        fc.array(finding, { maxLength: 5 }),
        fc.constantFrom('enforce', 'warn' as const),
        fc.boolean(),
        (fs, mode, auto) => {
          const verdict = evaluate({
            findings: [...fs, malicious],
            unavailable: [],
            waivers: { 'MAL-2026-1': { expiresAt: later } },
            now: at,
            policy: { ...policy, mode, auto_approve_clean: auto },
          });
          expect(verdict.decision).toBe('wait');
        },
      ),
    );
  });

  it('in warn mode with auto-approval, anything but malicious or unavailable checks is approved', () => {
    fc.assert(
      fc.property(fc.array(finding, { maxLength: 8 }), (fs) => {
        const verdict = evaluate({
          findings: fs,
          unavailable: [],
          waivers: {},
          now: at,
          policy: { ...policy, mode: 'warn' },
        });
        expect(verdict.decision).toBe('approve');
      }),
    );
  });

  it('an expired waiver no longer counts', () => {
    const verdict = evaluate({
      findings: [script],
      unavailable: [],
      waivers: { install_script: { expiresAt: at } },
      now: later,
      policy,
    });
    expect(verdict).toEqual({ decision: 'wait', reasons: ['install_script'], warnings: [] });
  });

  it('blocks vulnerabilities from the policy’s severity up', () => {
    const vuln = (s: Finding['severity']): Finding => ({
      id: `GHSA-${s}`,
      kind: 'vulnerability',
      severity: s,
      summary: 'x',
    });
    const decide = (s: Finding['severity']) =>
      evaluate({ findings: [vuln(s)], unavailable: [], waivers: {}, now: at, policy }).decision;
    expect(['critical', 'high', 'medium', 'low'].map((s) => decide(s as Finding['severity']))).toEqual([
      'wait',
      'wait',
      'approve',
      'approve',
    ]);
  });
});

describe('policy decider', () => {
  it('versions each change and ignores a PUT of the same policy', () => {
    const policySpec = specFor(policyDecider);
    const changed = { ...defaultPolicy, auto_approve_clean: false };
    policySpec
      .given([])
      .when({ type: 'SetPolicy', tenantId, policy: changed, by: 'u1', at })
      .thenEvents([
        { type: 'PackagePolicySet', data: { tenantId, version: 1, policy: changed, by: 'u1', at } },
      ]);
    policySpec
      .given([{ type: 'PackagePolicySet', data: { tenantId, version: 1, policy: changed, by: 'u1', at } }])
      .when({ type: 'SetPolicy', tenantId, policy: changed, by: 'u1', at })
      .thenEvents([]);
  });
});

describe('package decider: properties', () => {
  /** Where a status may go next; anything else would be a bug in decide. */
  const next: Record<string, readonly string[]> = {
    received: ['license_check', 'rejected', 'failed'],
    license_check: ['downloading', 'rejected', 'failed'],
    downloading: ['scanning', 'rejected', 'failed'],
    scanning: ['awaiting_approval', 'approved', 'rejected', 'failed'],
    awaiting_approval: ['approved', 'rejected', 'received', 'failed'],
    approved: ['publishing', 'rejected', 'failed'],
    publishing: ['published', 'rejected', 'failed'],
    published: [],
    // Only a package refused for its integrity, when another lockfile names other bytes.
    rejected: ['received'],
    failed: ['received', 'approved', 'rejected'],
  };
  const findingArb = fc.constantFrom<Finding>(script, malicious, {
    id: 'GHSA-x',
    kind: 'vulnerability',
    severity: 'high',
    summary: 'x',
  });
  const policyArb = fc.record({
    mode: fc.constantFrom('enforce' as const, 'warn' as const),
    auto_approve_clean: fc.boolean(),
  });
  const command = fc.oneof(
    fc.constant({ type: 'StartProcessing' as const, at }),
    fc
      .record({
        verdict: fc.constantFrom('allowed' as const, 'denied' as const, 'missing' as const),
        p: policyArb,
      })
      .map((r) => ({
        type: 'RecordLicense' as const,
        expression: 'MIT',
        verdict: r.verdict,
        reason: 'r',
        policy: { ...policy, ...r.p },
        at,
      })),
    fc.constant({
      type: 'RecordDownload' as const,
      integrity: 'sha512-abc',
      shasum: 'x',
      size: 1,
      unpackedSize: 1,
      manifestLicense: 'MIT',
      deprecated: null,
      at,
    }),
    fc
      .record({ findings: fc.array(findingArb, { maxLength: 2 }), unavailable: fc.boolean(), p: policyArb })
      .map((r) => ({
        type: 'RecordScan' as const,
        findings: [...new Map(r.findings.map((f) => [f.id, f])).values()],
        advisories: 'osv-1',
        unavailable: r.unavailable ? ['osv'] : [],
        policy: { ...policy, ...r.p },
        at,
      })),
    fc.constant({ type: 'Approve' as const, by: 'u1', reason: 'ok', policy, at }),
    fc.constant({ type: 'Reject' as const, by: 'u1', reason: 'no', policy, at }),
    fc.constantFrom('install_script', 'MAL-2026-1', 'GHSA-x').map((findingId) => ({
      type: 'Waive' as const,
      findingId,
      by: 'u1',
      reason: 'w',
      expiresAt: later,
      policy,
      at,
    })),
    fc.constant({ type: 'StartPublishing' as const, at }),
    fc.constant({
      type: 'RecordPublished' as const,
      registry: 'http://r/',
      integrity: 'sha512-abc',
      outcome: 'published' as const,
      at,
    }),
    fc.constant({
      type: 'Fail' as const,
      stage: 'download' as const,
      code: 'unavailable',
      reason: 'x',
      retryable: true,
      attempts: 3,
      at,
    }),
    fc.constant({ type: 'Retry' as const, by: 'u1', at }),
    fc.constantFrom('integrity_mismatch', 'malicious').map((code) => ({
      type: 'RejectAutomatically' as const,
      stage: 'download' as const,
      code,
      reason: 'x',
      policy: null,
      at,
    })),
    fc.constantFrom('sha512-abc', 'sha512-other').map((integrity) => ({
      type: 'RetryWithIntegrity' as const,
      integrity,
      by: 'u2',
      at,
    })),
  );

  it('any sequence of commands moves only along the pipeline, never lets a malicious package through, and replays to the same state', () => {
    fc.assert(
      fc.property(fc.array(command, { maxLength: 30 }), (commands) => {
        const events: PackageEvent[] = [received];
        let state = packageDecider.evolve(packageDecider.initialState(), received);
        for (const cmd of commands) {
          let produced: PackageEvent[];
          try {
            produced = packageDecider.decide(cmd, state);
          } catch {
            continue;
          }
          for (const event of produced) {
            const before = state.status;
            const { rejectedFor, lockfileIntegrity } = state;
            state = packageDecider.evolve(state, event);
            if (before === 'rejected' && state.status !== 'rejected') {
              // Out of a rejection only for its integrity, and only with another lockfile's.
              expect(rejectedFor).toBe('integrity_mismatch');
              expect(event.type).toBe('PackageRetried');
              const claimed = (event.data as { integrity?: string }).integrity;
              expect(claimed).toBeDefined();
              expect(claimed).not.toBe(lockfileIntegrity);
            }
            if (state.status !== before)
              expect(next[before], `${before} → ${state.status}`).toContain(state.status);
            if (['approved', 'publishing', 'published'].includes(state.status) && before !== state.status) {
              expect(state.findings.some((f) => f.kind === 'malicious')).toBe(false);
            }
            if (state.status === 'published') expect(state.decision).not.toBeNull();
          }
          events.push(...produced);
        }
        expect(events.reduce(packageDecider.evolve, packageDecider.initialState())).toEqual(state);
        expect(events.filter((e) => e.type === 'PackagePublished').length).toBeLessThanOrEqual(1);
      }),
      { numRuns: 500 },
    );
  });
});
