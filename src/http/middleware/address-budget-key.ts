/**
 * The anonymous budget an address spends. An IPv4 address (also written IPv4-mapped, `::ffff:a.b.c.d`)
 * is its own; an IPv6 address spends its /64's, the block one subscriber is usually given, so rotating
 * through one's own addresses does not multiply the budget. No address (an in-process call) is `unknown`.
 */
export function addressBudgetKey(address: string | undefined): string {
  if (!address) return 'unknown';
  const trimmed = address
    .trim()
    .toLowerCase()
    .replace(/^\[|\]$/g, '');
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/.exec(trimmed);
  if (mapped?.[1]) return mapped[1];
  if (!trimmed.includes(':')) return trimmed;
  const groups = expandIpv6(trimmed.replace(/%.*$/, ''));
  return groups ? `${groups.slice(0, 4).join(':')}::/64` : trimmed;
}

/** The eight groups of an IPv6 address (without leading zeros), or undefined when it is not one. */
function expandIpv6(address: string): string[] | undefined {
  const halves = address.split('::');
  if (halves.length > 2) return undefined;
  const part = (text: string | undefined) => (text ? text.split(':') : []);
  const head = part(halves[0]);
  const tail = part(halves[1]);
  const missing = 8 - head.length - tail.length;
  if (halves.length === 1 ? missing !== 0 : missing < 1) return undefined;
  const groups = [...head, ...Array<string>(halves.length === 2 ? missing : 0).fill('0'), ...tail];
  if (!groups.every((g) => /^[0-9a-f]{1,4}$/.test(g))) return undefined;
  return groups.map((g) => g.replace(/^0+(?=.)/, ''));
}
