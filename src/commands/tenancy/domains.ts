import type { CommandStore, Decider } from '../kernel/index.ts';
import {
  type CommandContext,
  type CommandResult,
  conflict,
  deriveId,
  handle,
  invalid,
  load,
  notFound,
  ruleViolated,
  validated,
} from '../kernel/index.ts';
import { challengeRecordName, type TenantDomainEvent, tenantDomainEventSchemas } from './events.ts';

export interface DomainState {
  domain: string;
  /** The tenant that holds the domain now, or null when nobody does. */
  tenantId: string | null;
  /** The current claim's token, expected in the TXT record `_warden-challenge.<domain>`. */
  verificationToken: string | null;
  addedAt: string | null;
  /** When the current claim was proven; null while it is pending. Only a verified domain resolves. */
  verifiedAt: string | null;
}

/**
 * Names no tenant may claim, because Warden itself answers on them: the base domain and every name
 * under it (`<slug>.<base>` is a tenant's subdomain), and the platform's own host names.
 */
export interface ReservedHosts {
  baseDomain: string;
  platformHosts: readonly string[];
}

export type DomainCommand =
  | {
      type: 'AddTenantDomain';
      tenantId: string;
      domain: string;
      /** A fresh random token for this claim (made by the caller: the decider makes no random values). */
      verificationToken: string;
      reserved: ReservedHosts;
      at: string;
    }
  | {
      type: 'VerifyTenantDomain';
      tenantId: string;
      domain: string;
      /** The TXT values found at `_warden-challenge.<domain>` (each record's strings joined). */
      found: readonly string[];
      /** Why the lookup found nothing, when it failed (shown to the owner). */
      lookupError?: string;
      at: string;
    }
  | { type: 'RemoveTenantDomain'; tenantId: string; domain: string; at: string };

/** Why `domain` may not be claimed, or null when it may. Names are compared as `DomainName` normalises them. */
export function reservedHostReason(domain: string, reserved: ReservedHosts): string | null {
  const base = reserved.baseDomain.toLowerCase().replace(/^\.+|\.+$/g, '');
  if (base && (domain === base || domain.endsWith(`.${base}`))) {
    return `must not be ${base} or a name under it: those are Warden's own tenant subdomains`;
  }
  if (reserved.platformHosts.includes(domain)) return "must not be one of Warden's own host names";
  return null;
}

function decide(command: DomainCommand, state: DomainState): TenantDomainEvent[] {
  const { tenantId, domain, at } = command;
  switch (command.type) {
    case 'AddTenantDomain': {
      const reason = reservedHostReason(domain, command.reserved);
      if (reason) throw invalid([{ path: 'domain', message: reason }]);
      if (state.tenantId === tenantId) return [];
      // A proven domain is its holder's; refused without saying whose it is. A pending claim proves
      // nothing, so it does not block whoever can prove the name (the claim gets a new token).
      if (state.tenantId !== null && state.verifiedAt !== null) {
        throw conflict(`the domain ${domain} is already taken`);
      }
      const { verificationToken } = command;
      return [{ type: 'TenantDomainAdded', data: { tenantId, domain, verificationToken, at } }];
    }
    case 'VerifyTenantDomain': {
      // Someone else's claim looks exactly like an unknown domain.
      if (state.tenantId !== tenantId || state.verificationToken === null) throw notFound('domain');
      if (state.verifiedAt !== null) return [];
      if (!command.found.includes(state.verificationToken)) {
        const found = command.found.length
          ? `found ${command.found.map((v) => JSON.stringify(v)).join(', ')}`
          : `found no TXT record${command.lookupError ? ` (${command.lookupError})` : ''}`;
        throw ruleViolated(
          'domain-ownership-not-proven',
          `expected a TXT record ${challengeRecordName(domain)} with the value ` +
            `${JSON.stringify(state.verificationToken)}; ${found}`,
        );
      }
      return [{ type: 'TenantDomainVerified', data: { tenantId, domain, at } }];
    }
    case 'RemoveTenantDomain':
      // Removing someone else's domain looks exactly like removing an unknown one.
      if (state.tenantId !== tenantId) throw notFound('domain');
      return [{ type: 'TenantDomainRemoved', data: { tenantId, domain, at } }];
  }
}

const free = (domain: string): DomainState => ({
  domain,
  tenantId: null,
  verificationToken: null,
  addedAt: null,
  verifiedAt: null,
});

function evolve(state: DomainState, event: TenantDomainEvent): DomainState {
  switch (event.type) {
    case 'TenantDomainAdded':
      return {
        domain: event.data.domain,
        tenantId: event.data.tenantId,
        verificationToken: event.data.verificationToken,
        addedAt: event.data.at,
        verifiedAt: null,
      };
    case 'TenantDomainVerified':
      return { ...state, verifiedAt: event.data.at };
    case 'TenantDomainRemoved':
      return free(state.domain);
    default:
      return state;
  }
}

/**
 * A custom domain: held by at most one tenant at a time, and serving it only once the tenant has shown
 * it controls the name's DNS; released domains, and claims never proven, can be claimed again.
 */
export const domainDecider: Decider<DomainCommand, TenantDomainEvent, DomainState> = validated(
  { initialState: () => free(''), decide, evolve },
  tenantDomainEventSchemas,
  'domain',
);

/** One stream per (lowercased) domain, its id derived from the name. */
export async function domainStreamId(domain: string): Promise<string> {
  return `tenancy.Domain-${await deriveId('warden.tenant.domain', domain.toLowerCase())}`;
}

/**
 * Claims, verifies or releases a domain for a tenant. Two tenants claiming one domain at once race for one
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

/** The domain as its events say now (who holds it, pending or verified); always current. */
export async function findTenantDomain(
  store: Pick<CommandStore, 'readStream'>,
  domain: string,
): Promise<DomainState> {
  return (await load(store, await domainStreamId(domain), domainDecider)).state;
}
