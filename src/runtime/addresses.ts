import { BlockList, isIP } from 'node:net';

/** The blocks as one `BlockList` (an IPv4-mapped IPv6 address meets the IPv4 blocks). */
function blocks(v4: readonly [string, number][], v6: readonly [string, number][]): BlockList {
  const list = new BlockList();
  for (const [address, bits] of v4) list.addSubnet(address, bits, 'ipv4');
  for (const [address, bits] of v6) list.addSubnet(address, bits, 'ipv6');
  return list;
}

const LOOPBACK = blocks([['127.0.0.0', 8]], [['::1', 128]]);
/** Unspecified (`0.0.0.0/8`, `::`) and link-local (`169.254.0.0/16`, where a cloud's metadata service answers, `fe80::/10`). */
const NOWHERE = blocks(
  [
    ['0.0.0.0', 8],
    ['169.254.0.0', 16],
  ],
  [
    ['::', 128],
    ['fe80::', 10],
  ],
);

/** `[::1]` (a URL's hostname) → `::1`; anything else as it is. */
const unbracketed = (host: string) => host.replace(/^\[(.*)\]$/, '$1');

function inBlocks(list: BlockList, host: string): boolean {
  const address = unbracketed(host);
  const family = isIP(address);
  return family !== 0 && list.check(address, family === 6 ? 'ipv6' : 'ipv4');
}

/** Whether a host (an address, bracketed or not) is this host's loopback; a name is not. */
export const isLoopbackAddress = (host: string) => inBlocks(LOOPBACK, host);

/**
 * Whether a host (an address, bracketed or not) is unspecified or link-local: never where a tenant's
 * agent, registry or workspace lives, and link-local is where a cloud's metadata service answers.
 */
export const isUnspecifiedOrLinkLocal = (host: string) => inBlocks(NOWHERE, host);
