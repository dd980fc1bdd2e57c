import type { CommandStore } from '../kernel/index.ts';
import {
  aggregate,
  type CommandContext,
  type CommandResult,
  deriveId,
  existsInTenant,
  handle,
  type Loaded,
  load,
} from '../kernel/index.ts';
import { packageStreamId, policyStreamId, requestQuotaStreamId, requestStreamId } from './events.ts';
import { type PackageCommand, type PackageState, packageDecider } from './package.ts';
import { type PolicyCommand, type PolicyState, policyDecider } from './policy.ts';
import { type RequestCommand, type RequestState, requestDecider } from './request.ts';
import { monthOf, requestQuotaDecider } from './request-quota.ts';

/** Concurrent submissions of one tenant all append to its month's counter: enough rounds for each to win. */
const QUOTA_ATTEMPTS = 100;

/** A package's id derives from (tenant, name@version): every request naming it meets one stream. */
export const packageIdFor = (tenantId: string, spec: string) =>
  deriveId('warden.packages.package', tenantId, spec);

const packages = aggregate({
  decider: packageDecider,
  streamId: packageStreamId,
  what: 'package',
  visibleTo: existsInTenant,
});

/**
 * Submits a lockfile: first counts it against the month's package requests (`limit`, null: unlimited)
 * on the tenant's counter stream with the expected revision, so concurrent submissions cannot exceed
 * the limit; a refusal (QUOTA_EXCEEDED) appends nothing.
 */
export async function submitRequest(
  store: CommandStore,
  command: Omit<RequestCommand, 'type'> & { limit: number | null },
  context: CommandContext,
): Promise<CommandResult<RequestState>> {
  const { limit, ...request } = command;
  const { month } = monthOf(command.at);
  await handle(
    store,
    requestQuotaStreamId(command.tenantId, month),
    requestQuotaDecider,
    {
      type: 'CountPackageRequest',
      tenantId: command.tenantId,
      month,
      requestId: command.requestId,
      limit,
      at: command.at,
    },
    { ...context, maxAttempts: QUOTA_ATTEMPTS },
  );
  return handle(
    store,
    requestStreamId(command.requestId),
    requestDecider,
    { type: 'SubmitRequest', ...request },
    context,
  );
}

/** Package requests the tenant submitted in the month of `at` (UTC), and when that count renews. */
export async function packageRequestsInMonth(
  store: CommandStore,
  tenantId: string,
  at: string,
): Promise<{ month: string; used: number; resetAt: string }> {
  const { month, resetAt } = monthOf(at);
  const loaded = await load(store, requestQuotaStreamId(tenantId, month), requestQuotaDecider);
  return { month, used: loaded.state.used, resetAt };
}

/** The package in this tenant, or undefined (another tenant's package is as if it did not exist). */
export async function findPackage(
  store: CommandStore,
  tenantId: string,
  spec: string,
): Promise<Loaded<PackageState> | undefined> {
  return packages.find(store, tenantId, await packageIdFor(tenantId, spec));
}

/** Runs a command on an existing package of this tenant (404 otherwise). */
export async function changePackage(
  store: CommandStore,
  tenantId: string,
  spec: string,
  command: Exclude<PackageCommand, { type: 'ReceivePackage' }>,
  context: CommandContext,
): Promise<CommandResult<PackageState>> {
  return packages.change(store, tenantId, await packageIdFor(tenantId, spec), command, context);
}

export async function loadPolicy(
  store: CommandStore,
  tenantId: string,
): Promise<{ state: PolicyState; revision: number; position: bigint }> {
  const loaded = await load(store, policyStreamId(tenantId), policyDecider);
  return { state: { ...loaded.state, tenantId }, revision: loaded.revision, position: loaded.position };
}

export async function setPolicy(
  store: CommandStore,
  command: Omit<PolicyCommand, 'type'>,
  context: CommandContext,
): Promise<CommandResult<PolicyState>> {
  return handle(
    store,
    policyStreamId(command.tenantId),
    policyDecider,
    { type: 'SetPolicy', ...command },
    context,
  );
}
