import { Resolver } from 'node:dns/promises';
import type { DomainOwnershipResolver } from '../commands/tenancy/index.ts';

/** DNS answers meaning "this name has no TXT record" rather than "the lookup failed". */
const NO_RECORDS = new Set(['ENODATA', 'ENOTFOUND']);

/**
 * Custom-domain verification over the system's DNS servers (`node:dns/promises`, which Deno provides
 * too). Bounded: one lookup gives up after `timeoutMs` per try, two tries.
 */
export function dnsOwnershipResolver(options: { timeoutMs?: number } = {}): DomainOwnershipResolver {
  const resolver = new Resolver({ timeout: options.timeoutMs ?? 5000, tries: 2 });
  return {
    async resolveTxt(name) {
      try {
        return await resolver.resolveTxt(name);
      } catch (error) {
        if (NO_RECORDS.has((error as { code?: string }).code ?? '')) return [];
        throw error;
      }
    },
  };
}
