import type { CommandContext, CommandResult, CommandStore } from '../kernel/index.ts';
import { aggregate, deriveId, existsInTenant, load, notFound } from '../kernel/index.ts';
import { type TenantStatus, tenantStreamId } from './events.ts';
import { effectiveLimits, type Limits } from './limits.ts';
import type { PlanId } from './plans.ts';
import { type TenantCommand, type TenantState, tenantDecider } from './tenant.ts';

const tenants = aggregate({
  decider: tenantDecider,
  streamId: tenantStreamId,
  what: 'tenant',
  visibleTo: existsInTenant,
});

/**
 * A tenant's id is derived from its slug, so two creations of one slug race for one stream and the
 * event store's `no_stream` expectation decides: slugs are unique without a second store.
 */
export const tenantIdForSlug = (slug: string) => deriveId('warden.tenant.slug', slug);

export async function createTenant(
  store: CommandStore,
  input: { slug: string; name: string; plan: PlanId; at: string; awaitingApproval?: boolean },
  context: CommandContext,
): Promise<CommandResult<TenantState>> {
  const tenantId = await tenantIdForSlug(input.slug);
  // The creation belongs to the tenant it creates (not to the caller's tenant): its own audit shows it.
  const own = { ...context, metadata: { ...context.metadata, tenantId } };
  return tenants.create(store, tenantId, { type: 'CreateTenant', tenantId, ...input }, own);
}

/** Any command on an existing tenant (the decider refuses a tenant that does not exist). */
export function updateTenant(
  store: CommandStore,
  tenantId: string,
  command: Exclude<TenantCommand, { type: 'CreateTenant' }>,
  context: CommandContext,
): Promise<CommandResult<TenantState>> {
  return tenants.create(store, tenantId, command, context);
}

/**
 * A tenant's status now, read from its own stream (so a suspension or deletion counts from the next
 * check on, whatever the tenant list shows yet); undefined for a tenant that never existed.
 */
export async function tenantStatus(store: CommandStore, tenantId: string): Promise<TenantStatus | undefined> {
  const { state } = await load(store, tenantStreamId(tenantId), tenantDecider);
  return state.exists ? state.status : undefined;
}

/**
 * The limits that hold for a tenant now, read from its own stream (so an override or a plan change
 * counts from the next request on): the superadmin's overrides over its plan's. Quota checks that
 * decide a write ask here.
 */
export async function tenantLimits(store: CommandStore, tenantId: string): Promise<Limits> {
  const loaded = await load(store, tenantStreamId(tenantId), tenantDecider);
  if (!loaded.state.exists || loaded.state.status === 'deleted') throw notFound('tenant');
  return effectiveLimits(loaded.state.plan, loaded.state.limits);
}
