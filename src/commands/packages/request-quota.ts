import type { Decider } from '../kernel/index.ts';
import { quotaExceeded, validated } from '../kernel/index.ts';
import { packageEventSchemas, type RequestQuotaEvent } from './events.ts';

/** The package requests a tenant submitted in one month (UTC): a counter stream per (tenant, month). */
export interface RequestQuotaState {
  used: number;
  requestIds: ReadonlySet<string>;
}

export type RequestQuotaCommand = {
  type: 'CountPackageRequest';
  tenantId: string;
  /** `YYYY-MM` of `at`, UTC. */
  month: string;
  requestId: string;
  /** The tenant's `packageRequestsPerMonth` (override or plan); null: unlimited. */
  limit: number | null;
  at: string;
};

/** The month of an instant (`YYYY-MM`, UTC) and the first instant of the next one, when its count renews. */
export function monthOf(at: string): { month: string; resetAt: string } {
  const date = new Date(at);
  const next = new Date(Date.UTC(date.getUTCFullYear(), date.getUTCMonth() + 1, 1));
  return { month: date.toISOString().slice(0, 7), resetAt: next.toISOString() };
}

function decide(command: RequestQuotaCommand, state: RequestQuotaState): RequestQuotaEvent[] {
  // Counted once per request, however often it is retried.
  if (state.requestIds.has(command.requestId)) return [];
  if (command.limit !== null && state.used >= command.limit) {
    const { resetAt } = monthOf(command.at);
    throw quotaExceeded(
      {
        name: 'packageRequestsPerMonth',
        limit: command.limit,
        resetAt,
        retryAfterSeconds: (Date.parse(resetAt) - Date.parse(command.at)) / 1000,
      },
      `the tenant's limits allow ${command.limit} package requests a month and ${state.used} were made in ${command.month}; they renew at ${resetAt}`,
    );
  }
  const { type: _, ...data } = command;
  return [{ type: 'PackageRequestCounted', data }];
}

function evolve(state: RequestQuotaState, event: RequestQuotaEvent): RequestQuotaState {
  return { used: state.used + 1, requestIds: new Set(state.requestIds).add(event.data.requestId) };
}

export const requestQuotaDecider: Decider<RequestQuotaCommand, RequestQuotaEvent, RequestQuotaState> =
  validated(
    { initialState: () => ({ used: 0, requestIds: new Set<string>() }), decide, evolve },
    packageEventSchemas,
  );
