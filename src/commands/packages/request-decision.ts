import {
  type CommandContext,
  type CommandStore,
  deriveId,
  existsInTenant,
  isDomainError,
  load,
  notFound,
} from '../kernel/index.ts';
import type { PackageStatus, PolicySnapshot } from './events.ts';
import { requestStreamId } from './events.ts';
import { changePackage, findPackage } from './handle.ts';
import { requestDecider } from './request.ts';

/** What a whole-request decision did to one of its packages. */
export type PackageOutcome =
  | { spec: string; outcome: 'approved' | 'rejected'; status: PackageStatus; position: string }
  /** It was not waiting for an approver (still in the pipeline, decided already, …): left alone. */
  | { spec: string; outcome: 'not_waiting'; status: PackageStatus | 'received' }
  /** Its own decider refused (a malicious package cannot be approved): `rule` says why. */
  | { spec: string; outcome: 'refused'; status: PackageStatus; rule: string; detail: string };

export interface RequestDecision {
  action: 'approve' | 'reject';
  by: string;
  reason: string;
  policy: PolicySnapshot;
  at: string;
}

/**
 * Approves or rejects every package of a request that waits for an approver: one command per
 * package, decided by that package's own decider, so each outcome is what a single approve or
 * reject would have done. Idempotent per package: the command id derives from (request, package,
 * action, time), and a package decided already answers `not_waiting` with its status. Another
 * tenant's request is a 404.
 */
export async function decideRequest(
  store: CommandStore,
  tenantId: string,
  requestId: string,
  decision: RequestDecision,
  context: CommandContext,
): Promise<PackageOutcome[]> {
  const request = await load(store, requestStreamId(requestId), requestDecider);
  if (!existsInTenant(request.state, tenantId)) throw notFound('package request');
  const outcomes: PackageOutcome[] = [];
  for (const spec of request.state.specs) {
    const found = await findPackage(store, tenantId, spec);
    if (!found) {
      outcomes.push({ spec, outcome: 'not_waiting', status: 'received' });
      continue;
    }
    if (found.state.status !== 'awaiting_approval') {
      outcomes.push({ spec, outcome: 'not_waiting', status: found.state.status });
      continue;
    }
    const { action, by, reason, policy, at } = decision;
    const command =
      action === 'approve'
        ? { type: 'Approve' as const, by, reason, policy, at }
        : { type: 'Reject' as const, by, reason, policy, at };
    try {
      const result = await changePackage(store, tenantId, spec, command, {
        ...context,
        commandId: await deriveId('warden.packages.request-decision', requestId, spec, action, at),
      });
      outcomes.push({
        spec,
        outcome: action === 'approve' ? 'approved' : 'rejected',
        status: result.state.status,
        position: result.position.toString(),
      });
    } catch (error) {
      if (!isDomainError(error) || (error.code !== 'CONFLICT' && error.code !== 'RULE_VIOLATED')) throw error;
      // Decided meanwhile by someone else (CONFLICT), or refused by its rules: say which, move on.
      const now = await findPackage(store, tenantId, spec);
      const status = now?.state.status ?? found.state.status;
      if (error.code === 'CONFLICT') outcomes.push({ spec, outcome: 'not_waiting', status });
      else
        outcomes.push({
          spec,
          outcome: 'refused',
          status,
          rule: error.detail.rule ?? '',
          detail: error.message,
        });
    }
  }
  return outcomes;
}
