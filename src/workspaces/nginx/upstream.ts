import { lookup } from 'node:dns/promises';
import { isIPv4 } from 'node:net';
import { isLoopbackAddress, isUnspecifiedOrLinkLocal } from '../../runtime/addresses.ts';

const UPSTREAM = /^([0-9.]+):([0-9]{1,5})$/;

/** Four octets of 0–255 without leading zeros, as nginx takes them. */
const isIpv4 = (text: string) => isIPv4(text);
const firstOctet = (ip: string) => Number(ip.split('.')[0]);
const isLoopback = (ip: string) => isIpv4(ip) && isLoopbackAddress(ip);
const isPort = (port: number) => Number.isInteger(port) && port >= 1 && port <= 65_535;

/**
 * `a.b.c.d:port` as nginx takes it in `proxy_pass`: four octets of 0–255 and a port of 1–65535.
 * Anything else (`127.0.0.1:99999`, `999.0.0.1:80`) makes `nginx -t` refuse the whole routes file,
 * so no route of any tenant would change any more.
 */
export function isUpstream(text: string): boolean {
  const match = UPSTREAM.exec(text);
  return match !== null && isIpv4(match[1] as string) && isPort(Number(match[2]));
}

/**
 * Where nginx sends a workspace's traffic, from the port its agent says it published. An agent is its
 * tenant's (any URL that enrols), so its answer is checked before nginx, which serves every tenant,
 * is pointed at it: a port nginx takes, on an address of the agent's own host. Loopback only for an
 * agent on loopback (another host's loopback is nginx's own), never unspecified, link-local (a cloud's
 * metadata service) or multicast, and the agent's own address when it is registered by address, or
 * one its name resolves to (`resolved`, see {@link agentAddresses}) when it is registered by name.
 * Answers the upstream, or why the port is refused.
 */
export function agentUpstream(
  agentUrl: string,
  published: { host_ip: string; host_port: number },
  resolved: readonly string[] = [],
): { upstream: string } | { refused: string } {
  const named = `${published.host_ip}:${published.host_port}`;
  const refused = (why: string) => ({ refused: `the agent published ${named}: ${why}` });
  if (typeof published.host_port !== 'number' || !isPort(published.host_port)) {
    return refused('not a port (1–65535)');
  }
  const agentHost = new URL(agentUrl).hostname;
  const agentOnLoopback = agentHost === 'localhost' || agentHost === '[::1]' || isLoopback(agentHost);
  let host = String(published.host_ip);
  if (host === '0.0.0.0' || host === '') {
    // Every address of the agent's host: reached at the one Warden reaches the agent by.
    if (agentOnLoopback) host = '127.0.0.1';
    else if (isIpv4(agentHost)) host = agentHost;
    else {
      const own = resolved.find(isIpv4);
      if (!own) return refused(`every address, and ${agentHost} resolves to no IPv4 address`);
      host = own;
    }
  }
  if (!isIpv4(host)) return refused('not an IPv4 address');
  const first = firstOctet(host);
  if (isUnspecifiedOrLinkLocal(host) || first >= 224) {
    return refused('not an address a workspace is served from');
  }
  if (isLoopback(host) && !agentOnLoopback) return refused('loopback, and the agent is on another host');
  if (!isLoopback(host) && isIpv4(agentHost) && !agentOnLoopback && host !== agentHost) {
    return refused(`not the agent's address (${agentHost})`);
  }
  // By name: an address the name resolves to, not any private address the tenant's agent names (a
  // database on the nginx host's network would otherwise be one route away).
  if (!agentOnLoopback && !isIpv4(agentHost) && !resolved.includes(host)) {
    return refused(`not an address of ${agentHost} (${resolved.join(', ') || 'none'})`);
  }
  return { upstream: `${host}:${published.host_port}` };
}

/**
 * The IPv4 addresses an agent registered by name resolves to (none for one registered by address or
 * on loopback): what {@link agentUpstream} lets its published ports be on. A failed lookup throws.
 */
export async function agentAddresses(agentUrl: string): Promise<string[]> {
  const host = new URL(agentUrl).hostname;
  if (host === 'localhost' || host.startsWith('[') || isIpv4(host)) return [];
  return (await lookup(host, { all: true, family: 4 })).map((entry) => entry.address);
}
