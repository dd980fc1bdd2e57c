import type { Decider } from '../kernel/index.ts';
import { validated } from '../kernel/index.ts';
import { type PolicyBody, type PolicyEvent, type PolicySnapshot, packageEventSchemas } from './events.ts';
import { atLeast, type Finding, type FindingKind } from './findings.ts';

/**
 * The policy every tenant starts with (version 0): strict where a mistake is costly (known
 * vulnerabilities from `high`, install scripts, lookalike names, non-SPDX licenses wait for an
 * approver; strong copyleft is denied), relaxed where it is noise (deprecations, metadata).
 */
export const defaultPolicy: PolicyBody = {
  mode: 'enforce',
  licenses: {
    allow: [],
    deny: ['AGPL-1.0-only', 'AGPL-1.0-or-later', 'AGPL-3.0-only', 'AGPL-3.0-or-later', 'SSPL-1.0'],
    unknown: 'block',
  },
  vulnerabilities: { block: 'high' },
  heuristics: {
    install_script: 'block',
    typosquat: 'block',
    missing_license: 'warn',
    license_mismatch: 'warn',
    deprecated: 'warn',
  },
  auto_approve_clean: true,
};

export interface PolicyState {
  tenantId: string;
  version: number;
  policy: PolicyBody;
  updatedBy: string | null;
  updatedAt: string | null;
}

export type PolicyCommand = {
  type: 'SetPolicy';
  tenantId: string;
  policy: PolicyBody;
  by: string;
  at: string;
};

const initialState = (): PolicyState => ({
  tenantId: '',
  version: 0,
  policy: defaultPolicy,
  updatedBy: null,
  updatedAt: null,
});

/** Policies are versioned: each change is a new version, and every decision names the one it used. */
export const policyDecider: Decider<PolicyCommand, PolicyEvent, PolicyState> = validated(
  {
    initialState,
    decide: (command, state) =>
      JSON.stringify(command.policy) === JSON.stringify(state.policy)
        ? []
        : [
            {
              type: 'PackagePolicySet',
              data: {
                tenantId: command.tenantId,
                version: state.version + 1,
                policy: command.policy,
                by: command.by,
                at: command.at,
              },
            },
          ],
    evolve: (_state, event) => ({
      tenantId: event.data.tenantId,
      version: event.data.version,
      policy: event.data.policy,
      updatedBy: event.data.by,
      updatedAt: event.data.at,
    }),
  },
  packageEventSchemas,
);

export const snapshotOf = (state: PolicyState): PolicySnapshot => ({
  ...state.policy,
  version: state.version,
});

export type Verdict =
  | { decision: 'approve'; warnings: string[] }
  | { decision: 'wait'; reasons: string[]; warnings: string[] }
  | { decision: 'reject'; code: string; reason: string };

export interface EvaluationInput {
  findings: readonly Finding[];
  /** Checks that could not run: the package waits (fail closed), whatever the policy says. */
  unavailable: readonly string[];
  /** Waivers by finding id; one past its expiry no longer counts. */
  waivers: Readonly<Record<string, { expiresAt: string }>>;
  now: string;
  policy: PolicySnapshot;
}

const heuristicKinds: Partial<Record<FindingKind, keyof PolicyBody['heuristics']>> = {
  install_script: 'install_script',
  typosquat: 'typosquat',
  missing_license: 'missing_license',
  license_mismatch: 'license_mismatch',
  deprecated: 'deprecated',
};

/** Whether one finding blocks under the policy (before waivers and `warn` mode), warns, or is ignored. */
function ruleFor(finding: Finding, policy: PolicySnapshot): 'block' | 'warn' | 'off' {
  switch (finding.kind) {
    case 'malicious':
      return 'block';
    case 'vulnerability':
      return policy.vulnerabilities.block !== 'none' &&
        atLeast(finding.severity, policy.vulnerabilities.block)
        ? 'block'
        : 'warn';
    case 'license_denied':
      return 'block';
    case 'license_unknown':
      return policy.licenses.unknown === 'block' ? 'block' : 'warn';
    default: {
      const rule = heuristicKinds[finding.kind];
      return rule ? policy.heuristics[rule] : 'warn';
    }
  }
}

/**
 * What the policy says about a scanned package: approve it, let it wait for an approver (with the
 * reasons), or reject it (a denied license under `enforce`). Malicious packages always wait and can
 * be neither waived nor approved; `warn` mode records every other finding without blocking.
 */
export function evaluate(input: EvaluationInput): Verdict {
  const { policy } = input;
  const blocking: string[] = [];
  const warnings: string[] = [];
  for (const finding of input.findings) {
    const rule = ruleFor(finding, policy);
    if (rule === 'off') continue;
    if (finding.kind === 'malicious') {
      blocking.push(finding.id);
      continue;
    }
    const waiver = input.waivers[finding.id];
    const waived = waiver !== undefined && waiver.expiresAt > input.now;
    if (rule === 'warn' || waived || policy.mode === 'warn') {
      warnings.push(finding.id);
      continue;
    }
    if (finding.kind === 'license_denied') {
      return { decision: 'reject', code: 'license_denied', reason: finding.summary };
    }
    blocking.push(finding.id);
  }
  const reasons = [...blocking];
  if (input.unavailable.length > 0) reasons.push('scan_unavailable');
  if (reasons.length === 0 && !policy.auto_approve_clean) reasons.push('approval_required');
  return reasons.length > 0 ? { decision: 'wait', reasons, warnings } : { decision: 'approve', warnings };
}
