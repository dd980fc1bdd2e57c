import { isIP } from 'node:net';
import { z } from 'zod';

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

/**
 * Whether `host` (as {@link hostOf} gives it) is a name of one label: `db`, `intranet`, `localhost`.
 * What such a name reaches is the platform's to say, not the tenant's: the host's resolver appends
 * its search domains to it (`db.<the platform's domain>`), and the DNS of a container or cluster
 * network answers it with the platform's own services. Addresses are not names.
 */
export function isSingleLabel(host: string): boolean {
  return host !== '' && isIP(host) === 0 && !host.replace(/\.$/, '').includes('.');
}

/**
 * The name a TLS client sends for `host` (a target as {@link hostOf} reads it) in the server_name
 * extension, or null for an address: RFC 6066 §3 carries a host name without the trailing dot of
 * its absolute form (`example.com.` is resolved as written and sent as `example.com`) and never a
 * literal address, IPv6 ones with letters (`fd00::1`, `::ffff:7f00:1`) included.
 */
export function sniName(host: string): string | null {
  const name = hostOf(host).replace(/\.$/, '');
  return name === '' || isIP(name) !== 0 ? null : name;
}

/** `host` as an absolute DNS name, `db.example.com.`: no resolver appends a search domain to it. */
export const absoluteName = (host: string): string => (host.endsWith('.') ? host : `${host}.`);

/** Why a target naming a single-label host is refused (the parameter or entry is named beside it). */
export const SINGLE_LABEL_REFUSED =
  'must be an IP address or a fully qualified host name (db.example.com, not db): a single label means whatever the platform’s network makes of it';

/** A zod refinement of a tool's target parameter (a host, `host:port` or URL): its host is not a single label. */
export const fullyQualified = (target: string): boolean => !isSingleLabel(hostOf(target));

/** A tool's host parameter: a host name or an address (at most 253 characters), never a single label. */
export const targetHost = (description: string) =>
  z.string().trim().min(1).max(253).refine(fullyQualified, SINGLE_LABEL_REFUSED).describe(description);
