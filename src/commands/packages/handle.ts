import type { EventStore } from '../../eventstore/port.ts';
import { notFound } from '../kernel/errors.ts';
import { type CommandContext, type CommandResult, handle, load } from '../kernel/handle.ts';
import { deriveId } from '../kernel/ids.ts';
import { packageStreamId, policyStreamId, requestStreamId } from './events.ts';
import { type PackageCommand, type PackageState, packageDecider } from './package.ts';
import { type PolicyCommand, type PolicyState, policyDecider } from './policy.ts';
import { type RequestCommand, type RequestState, requestDecider } from './request.ts';

/** A package's id derives from (tenant, name@version): every request naming it meets one stream. */
export const packageIdFor = (tenantId: string, spec: string) =>
  deriveId('warden.packages.package', tenantId, spec);

export async function submitRequest(
  store: EventStore,
  command: Omit<RequestCommand, 'type'>,
  context: CommandContext,
): Promise<CommandResult<RequestState>> {
  return handle(
    store,
    requestStreamId(command.requestId),
    requestDecider,
    { type: 'SubmitRequest', ...command },
    context,
  );
}

/** The package in this tenant, or undefined (another tenant's package is as if it did not exist). */
export async function findPackage(
  store: EventStore,
  tenantId: string,
  spec: string,
): Promise<{ state: PackageState; revision: number; position: bigint } | undefined> {
  const loaded = await load(store, packageStreamId(await packageIdFor(tenantId, spec)), packageDecider);
  if (!loaded.state.exists || loaded.state.tenantId !== tenantId) return undefined;
  return { state: loaded.state, revision: loaded.revision, position: loaded.position };
}

/** Runs a command on an existing package of this tenant (404 otherwise). */
export async function changePackage(
  store: EventStore,
  tenantId: string,
  spec: string,
  command: Exclude<PackageCommand, { type: 'ReceivePackage' }>,
  context: CommandContext,
): Promise<CommandResult<PackageState>> {
  const found = await findPackage(store, tenantId, spec);
  if (!found) throw notFound('package');
  return handle(store, packageStreamId(found.state.packageId), packageDecider, command, context);
}

export async function loadPolicy(
  store: EventStore,
  tenantId: string,
): Promise<{ state: PolicyState; revision: number; position: bigint }> {
  const loaded = await load(store, policyStreamId(tenantId), policyDecider);
  return { state: { ...loaded.state, tenantId }, revision: loaded.revision, position: loaded.position };
}

export async function setPolicy(
  store: EventStore,
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
