import type { CommandStore, Decider } from '../kernel/index.ts';
import {
  type CommandContext,
  type CommandResult,
  conflict,
  deriveId,
  handle,
  notFound,
  validated,
} from '../kernel/index.ts';
import { type TenantDomainEvent, tenantDomainEventSchemas } from './events.ts';

export interface DomainState {
  domain: string;
  /** The tenant that holds the domain now, or null when nobody does. */
  tenantId: string | null;
}

export type DomainCommand =
  | { type: 'AddTenantDomain'; tenantId: string; domain: string; at: string }
  | { type: 'RemoveTenantDomain'; tenantId: string; domain: string; at: string };

function decide(command: DomainCommand, state: DomainState): TenantDomainEvent[] {
  const { tenantId, domain, at } = command;
  if (command.type === 'AddTenantDomain') {
    if (state.tenantId === tenantId) return [];
    // Another tenant's domain: refused without saying whose it is.
    if (state.tenantId !== null) throw conflict(`the domain ${domain} is already taken`);
    return [{ type: 'TenantDomainAdded', data: { tenantId, domain, at } }];
  }
  // Removing someone else's domain looks exactly like removing an unknown one.
  if (state.tenantId !== tenantId) throw notFound('domain');
  return [{ type: 'TenantDomainRemoved', data: { tenantId, domain, at } }];
}

function evolve(state: DomainState, event: TenantDomainEvent): DomainState {
  switch (event.type) {
    case 'TenantDomainAdded':
      return { domain: event.data.domain, tenantId: event.data.tenantId };
    case 'TenantDomainRemoved':
      return { ...state, tenantId: null };
    default:
      return state;
  }
}

/** A custom domain: held by at most one tenant at a time; released domains can be claimed again. */
export const domainDecider: Decider<DomainCommand, TenantDomainEvent, DomainState> = validated(
  { initialState: () => ({ domain: '', tenantId: null }), decide, evolve },
  tenantDomainEventSchemas,
  'domain',
);

/** One stream per (lowercased) domain, its id derived from the name. */
export async function domainStreamId(domain: string): Promise<string> {
  return `tenancy.Domain-${await deriveId('warden.tenant.domain', domain.toLowerCase())}`;
}

/**
 * Claims or releases a domain for a tenant. Two tenants claiming one domain at once race for one
 * stream: the first append creates it (`no_stream` at revision -1), the second conflicts, reloads,
 * and its `decide` sees the domain taken.
 */
export async function changeTenantDomain(
  store: CommandStore,
  command: DomainCommand,
  context: CommandContext,
): Promise<CommandResult<DomainState>> {
  return handle(store, await domainStreamId(command.domain), domainDecider, command, context);
}
