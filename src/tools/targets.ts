import { lookup } from 'node:dns/promises';
import { BlockList, isIP } from 'node:net';
import { TargetRefusedError } from './protocol.ts';

export type Resolve = (host: string) => Promise<string[]>;

/** Every address a host name has, as the system resolver gives them. */
export const systemResolve: Resolve = async (host) =>
  (await lookup(host, { all: true, verbatim: true })).map((a) => a.address);

/** The host a target names: a URL's host, `host:port`'s host, a bracketed IPv6 literal, or the text itself. */
export function hostOf(target: string): string {
  const text = target.trim();
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(text)) {
    try {
      return new URL(text).hostname.replace(/^\[|\]$/g, '').toLowerCase();
    } catch {
      return text.toLowerCase();
    }
  }
  const bracketed = /^\[([^\]]+)\](:\d+)?$/.exec(text);
  if (bracketed) return bracketed[1]!.toLowerCase();
  if (isIP(text)) return text.toLowerCase();
  return text.replace(/:\d+$/, '').toLowerCase();
}

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

/** Whether `address` is in `blocks` (an IPv4-mapped IPv6 address meets the IPv4 blocks). */
function within(blocks: BlockList, address: string): boolean {
  const family = isIP(address);
  return family !== 0 && blocks.check(address, family === 6 ? 'ipv6' : 'ipv4');
}

/**
 * The tenant's allowlist as a checker. `check(target)` resolves the target's host once and returns
 * the address the tool must connect to, or throws {@link TargetRefusedError} naming the target
 * before any packet is sent to it. A host name listed by name (or by a `*.` wildcard) is allowed at
 * whatever it resolves to; otherwise one of its addresses must be inside a listed CIDR or address.
 * `denied` (the platform's `WARDEN_TOOL_DENIED_TARGETS`: this host's loopback, the cloud metadata
 * addresses…) is refused whatever the allowlist says: a tenant's admin cannot point the tools at
 * the platform itself, by address or by a name that resolves there.
 *
 * A name the tenant did not list is refused with one reason whether it does not resolve, resolves
 * outside the list or only to denied addresses: the refusal must not tell a tenant which names the
 * platform's resolvers know, nor where they point.
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
          addresses = await resolve(host);
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
      if (address !== null && isDenied(address)) {
        throw new TargetRefusedError(target, `${address} is one the platform denies to tools`);
      }
      if (named(hostOf(target)) || (address !== null && inBlocks(address))) return;
      throw new TargetRefusedError(target, 'it is no longer in the tenant’s allowlist');
    },
  };
}
export type TargetChecker = ReturnType<typeof targetChecker>;
