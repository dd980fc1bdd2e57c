import type { Decider } from '../kernel/index.ts';
import { conflict, invalid, notFound, ruleViolated, validated } from '../kernel/index.ts';
import {
  MAX_BUNDLED_PACKAGES,
  type PackageEvent,
  type PackageStatus,
  type PolicySnapshot,
  packageEventSchemas,
} from './events.ts';
import type { Finding } from './findings.ts';
import type { PackageCommand } from './package-commands.ts';
import { evolve, initialState, type PackageState } from './package-state.ts';
import { evaluate } from './policy.ts';

export type { PackageCommand } from './package-commands.ts';
export type { DownloadRecord, PackageState } from './package-state.ts';

const base = (command: { at: string }, state: PackageState) => ({
  packageId: state.packageId,
  tenantId: state.tenantId,
  spec: state.spec,
  at: command.at,
});

/** Statuses where the pipeline is working on the package (or will be, once a worker picks it up). */
const inPipeline: readonly PackageStatus[] = ['received', 'license_check', 'downloading', 'scanning'];

/** Events that move a package waiting for an approver on, when the evaluation now lets it through. */
function decision(
  state: PackageState,
  policy: PolicySnapshot,
  at: string,
  extra: {
    findings?: Finding[];
    unavailable?: string[];
    waivers?: PackageState['waivers'];
  },
): PackageEvent[] {
  const verdict = evaluate({
    findings: extra.findings ?? state.findings,
    unavailable: extra.unavailable ?? state.unavailable,
    waivers: extra.waivers ?? state.waivers,
    now: at,
    policy,
  });
  const data = { ...base({ at }, state), policyVersion: policy.version };
  switch (verdict.decision) {
    case 'approve':
      return [{ type: 'PackageAutoApproved', data: { ...data, warnings: verdict.warnings } }];
    case 'wait':
      return [{ type: 'ApprovalRequired', data: { ...data, reasons: verdict.reasons } }];
    case 'reject':
      return [
        {
          type: 'PackageRejected',
          data: { ...data, by: 'policy', stage: 'scan', code: verdict.code, reason: verdict.reason },
        },
      ];
  }
}

function expect(state: PackageState, allowed: readonly PackageStatus[], action: string) {
  if (!allowed.includes(state.status)) {
    throw conflict(`cannot ${action} a package that is ${state.status.replaceAll('_', ' ')}`);
  }
}

function decide(command: PackageCommand, state: PackageState): PackageEvent[] {
  if (command.type === 'ReceivePackage') {
    // Known already: processed once per tenant, whichever request named it first.
    if (state.exists) return [];
    const { type: _, ...data } = command;
    return [{ type: 'PackageReceived', data: { ...data, spec: `${data.name}@${data.version}` } }];
  }
  if (!state.exists) throw notFound('package');
  const common = base(command, state);
  switch (command.type) {
    case 'StartProcessing':
      if (state.status !== 'received') return [];
      return [{ type: 'PackageProcessingStarted', data: { ...common, attempt: state.attempts + 1 } }];
    case 'RecordLicense': {
      if (state.status !== 'license_check') return [];
      const { expression, verdict, reason, policy } = command;
      const checked: PackageEvent = {
        type: 'LicenseChecked',
        data: { ...common, expression, source: 'lockfile', verdict, reason, policyVersion: policy.version },
      };
      // A license the policy denies needs no download: refused at once (unless the policy only warns).
      if (verdict === 'denied' && policy.mode === 'enforce') {
        return [
          checked,
          {
            type: 'PackageRejected',
            data: {
              ...common,
              by: 'policy',
              stage: 'license',
              code: 'license_denied',
              reason,
              policyVersion: policy.version,
            },
          },
        ];
      }
      return [checked];
    }
    case 'RecordDownload': {
      if (state.status !== 'downloading') return [];
      const { type: _, at: __, ...download } = command;
      return [{ type: 'PackageDownloaded', data: { ...common, ...download } }];
    }
    case 'RecordScan': {
      if (state.status !== 'scanning') return [];
      const scanned: PackageEvent = {
        type: 'PackageScanned',
        data: {
          ...common,
          findings: command.findings,
          advisories: command.advisories,
          unavailable: command.unavailable,
          ...(command.bundled ? { bundled: command.bundled.slice(0, MAX_BUNDLED_PACKAGES) } : {}),
        },
      };
      return [
        scanned,
        ...decision(state, command.policy, command.at, {
          findings: command.findings,
          unavailable: command.unavailable,
        }),
      ];
    }
    case 'Approve': {
      expect(state, ['awaiting_approval'], 'approve');
      const malicious = state.findings.find((f) => f.kind === 'malicious');
      if (malicious) {
        throw ruleViolated(
          'malicious_package',
          `${malicious.id} marks ${state.spec} as malicious: it cannot be approved`,
        );
      }
      return [
        {
          type: 'PackageApproved',
          data: { ...common, by: command.by, reason: command.reason, policyVersion: command.policy.version },
        },
      ];
    }
    case 'Reject':
      expect(state, ['awaiting_approval', 'approved', 'failed'], 'reject');
      return [
        {
          type: 'PackageRejected',
          data: {
            ...common,
            by: command.by,
            stage: 'approval',
            code: 'manual',
            reason: command.reason,
            policyVersion: command.policy?.version ?? null,
          },
        },
      ];
    case 'RejectAutomatically':
      if (!inPipeline.includes(state.status) && state.status !== 'publishing' && state.status !== 'approved')
        return [];
      return [
        {
          type: 'PackageRejected',
          data: {
            ...common,
            by: 'policy',
            stage: command.stage,
            code: command.code,
            reason: command.reason,
            policyVersion: command.policy?.version ?? null,
          },
        },
      ];
    case 'Waive': {
      const finding = state.findings.find((f) => f.id === command.findingId);
      if (!finding) throw notFound('finding');
      if (finding.kind === 'malicious') {
        throw ruleViolated('not_waivable', 'a malicious-package finding cannot be waived');
      }
      if (command.expiresAt <= command.at) {
        throw invalid([{ path: 'expires_at', message: 'must be in the future' }]);
      }
      const waived: PackageEvent = {
        type: 'FindingWaived',
        data: {
          ...common,
          findingId: finding.id,
          by: command.by,
          reason: command.reason,
          expiresAt: command.expiresAt,
        },
      };
      if (state.status !== 'awaiting_approval') return [waived];
      const waivers = {
        ...state.waivers,
        [finding.id]: { expiresAt: command.expiresAt, by: command.by, reason: command.reason },
      };
      const next = decision(state, command.policy, command.at, { waivers });
      // Still waiting: the waiver is recorded and the approver decides.
      return next[0]?.type === 'ApprovalRequired' ? [waived] : [waived, ...next];
    }
    case 'RecordFinding':
      if (state.findings.some((f) => f.id === command.finding.id)) return [];
      if (state.status === 'rejected') return [];
      return [
        {
          type: 'FindingDiscovered',
          data: { ...common, finding: command.finding, advisories: command.advisories },
        },
      ];
    case 'StartPublishing':
      if (state.status !== 'approved') return [];
      return [{ type: 'PackagePublishing', data: { ...common, attempt: state.publishAttempts + 1 } }];
    case 'RecordPublished':
      if (state.status !== 'publishing') return [];
      return [
        {
          type: 'PackagePublished',
          data: {
            ...common,
            registry: command.registry,
            integrity: command.integrity,
            outcome: command.outcome,
          },
        },
      ];
    case 'Fail':
      if (state.status === 'published' || state.status === 'rejected' || state.status === 'failed') return [];
      return [
        {
          type: 'PackageFailed',
          data: {
            ...common,
            stage: command.stage,
            code: command.code,
            reason: command.reason,
            retryable: command.retryable,
            attempts: command.attempts,
          },
        },
      ];
    case 'RetryWithIntegrity':
      if (
        state.status !== 'rejected' ||
        state.rejectedFor !== 'integrity_mismatch' ||
        command.integrity === state.lockfileIntegrity
      ) {
        return [];
      }
      return [
        {
          type: 'PackageRetried',
          data: { ...common, by: command.by, resume: 'received', integrity: command.integrity },
        },
      ];
    case 'Retry':
      expect(state, ['failed', 'awaiting_approval'], 'retry');
      return [
        {
          type: 'PackageRetried',
          data: {
            ...common,
            by: command.by,
            resume: state.failure?.stage === 'publish' ? 'approved' : 'received',
          },
        },
      ];
  }
}

/** A package (`name@version`) in one tenant: processed once, whichever requests name it. */
export const packageDecider: Decider<PackageCommand, PackageEvent, PackageState> = validated(
  { initialState, decide, evolve },
  packageEventSchemas,
);
