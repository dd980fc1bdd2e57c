import { Resolver } from 'node:dns/promises';
import { BlockList, isIP } from 'node:net';
import { absoluteName, hostOf, isSingleLabel } from './host-names.ts';
import { TargetRefusedError } from './protocol.ts';

/** Every address of a host name, given absolute (`api.example.com.`). */
export type Resolve = (host: string) => Promise<string[]>;

const LOOPBACK = ['127.0.0.1', '::1'];

/**
 * Every address (A, then AAAA) of a host name, as the DNS servers of this host's resolver
 * configuration answer it, the name asked as written. It goes through c-ares, as `dns-lookup` does,
 * not the C library's getaddrinfo: that appends the host's search domains to a name (every name
 * with fewer dots than `ndots`, before trying it as written) and reads /etc/hosts and the
 * name-service switch's other sources (mDNS, container names), each of which makes a tenant's name
 * mean something on the platform's network. `localhost` and names under it are the loopback
 * addresses without asking anyone (RFC 6761 §6.3), which the platform denies by default.
 */
export const systemResolve: Resolve = async (host) => {
  if (/(^|\.)localhost\.?$/i.test(host)) return [...LOOPBACK];
  const resolver = new Resolver({ timeout: 5000, tries: 2 });
  const [v4, v6] = await Promise.allSettled([resolver.resolve4(host), resolver.resolve6(host)]);
  if (v4.status === 'rejected' && v6.status === 'rejected') throw v4.reason;
  return [...(v4.status === 'fulfilled' ? v4.value : []), ...(v6.status === 'fulfilled' ? v6.value : [])];
};

/** CIDR blocks and single addresses as one `BlockList`; the entries that are neither (host names) apart. */
function blockListOf(entries: readonly string[]): { blocks: BlockList; names: string[] } {
  const blocks = new BlockList();
  const names: string[] = [];
  for (const entry of entries) {
    const [address, bits] = entry.split('/');
    const family = isIP(address ?? '');
    if (family && address) {
      const type = family === 6 ? 'ipv6' : 'ipv4';
      if (bits === undefined) blocks.addAddress(address, type);
      else blocks.addSubnet(address, Number(bits), type);
    } else {
      names.push(entry.toLowerCase());
    }
  }
  return { blocks, names };
}

/** A single-label name is refused even where an allowlist written before the rule lists it. */
const singleLabel = (target: string) =>
  new TargetRefusedError(
    target,
    'its host is a single label: name it fully qualified (db.example.com, not db)',
  );

/** Whether `address` is in `blocks` (an IPv4-mapped IPv6 address meets the IPv4 blocks). */
function within(blocks: BlockList, address: string): boolean {
  const family = isIP(address);
  return family !== 0 && blocks.check(address, family === 6 ? 'ipv6' : 'ipv4');
}

/**
 * The tenant's allowlist as a checker. `check(target)` resolves the target's host once, as an
 * absolute name (`db.example.com.`: no search domain is appended), and returns the address the tool
 * must connect to, or throws {@link TargetRefusedError} naming the target before any packet is
 * sent to it. A host name listed by name (or by a `*.` wildcard) is allowed at
 * whatever it resolves to; otherwise one of its addresses must be inside a listed CIDR or address.
 * `denied` (the platform's `WARDEN_TOOL_DENIED_TARGETS`: this host's loopback, the cloud metadata
 * addresses…) is refused whatever the allowlist says: a tenant's admin cannot point the tools at
 * the platform itself, by address or by a name that resolves there.
 *
 * A name the tenant did not list is refused with one reason whether it does not resolve, resolves
 * outside the list or only to denied addresses: the refusal must not tell a tenant which names the
 * platform's resolvers know, nor where they point. A single-label host (`db`) is refused before
 * anything is resolved, even where an allowlist written before that rule lists it.
 */
export function targetChecker(
  entries: readonly string[],
  resolve: Resolve = systemResolve,
  denied: readonly string[] = [],
) {
  const { blocks, names } = blockListOf(entries);
  const deniedBlocks = blockListOf(denied).blocks;
  const named = (target: string) => {
    // `example.com.` is `example.com` written fully qualified.
    const host = target.replace(/\.$/, '');
    return names.some((n) => n === host || (n.startsWith('*.') && host.endsWith(n.slice(1))));
  };
  const inBlocks = (address: string) => within(blocks, address);
  const isDenied = (address: string) => within(deniedBlocks, address);
  return {
    async check(target: string): Promise<string> {
      if (entries.length === 0) throw new TargetRefusedError(target, 'the tenant’s allowlist is empty');
      const host = hostOf(target);
      if (!host) throw new TargetRefusedError(target, 'it names no host');
      if (isSingleLabel(host)) throw singleLabel(target);
      const unlistedName = !isIP(host) && !named(host);
      const outside = () =>
        new TargetRefusedError(
          target,
          unlistedName
            ? 'it is outside the tenant’s allowlist (a host name not listed by name must resolve to an address the allowlist holds)'
            : 'it is outside the tenant’s allowlist',
        );
      let addresses: string[];
      if (isIP(host)) addresses = [host];
      else {
        try {
          addresses = await resolve(absoluteName(host));
        } catch {
          if (unlistedName) throw outside();
          throw new TargetRefusedError(target, `${host} does not resolve`);
        }
      }
      if (addresses.length === 0) {
        if (unlistedName) throw outside();
        throw new TargetRefusedError(target, `${host} does not resolve`);
      }
      const reachable = addresses.filter((address) => !isDenied(address));
      if (reachable.length === 0 && !unlistedName) {
        throw new TargetRefusedError(
          target,
          `${addresses.length === 1 ? addresses[0] : `every address of ${host}`} is one the platform denies to tools`,
        );
      }
      if (named(host)) return reachable[0]!;
      const allowed = reachable.find(inBlocks);
      if (!allowed) throw outside();
      return allowed;
    },
    /**
     * Checks again, without resolving, that a target checked earlier is still allowed at the
     * address it was checked as (its host still listed by name, or that address inside a listed
     * CIDR or address, and not denied): a run that waited queued meets the allowlist, and the
     * platform's denied addresses, as they are when it starts. Throws {@link TargetRefusedError}
     * naming the target otherwise.
     */
    recheck(target: string, address: string | null): void {
      if (entries.length === 0) throw new TargetRefusedError(target, 'the tenant’s allowlist is empty');
      if (isSingleLabel(hostOf(target))) throw singleLabel(target);
      if (address !== null && isDenied(address)) {
        throw new TargetRefusedError(target, `${address} is one the platform denies to tools`);
      }
      if (named(hostOf(target)) || (address !== null && inBlocks(address))) return;
      throw new TargetRefusedError(target, 'it is no longer in the tenant’s allowlist');
    },
  };
}
export type TargetChecker = ReturnType<typeof targetChecker>;
