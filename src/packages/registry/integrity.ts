const algorithms = { sha512: 'SHA-512', sha384: 'SHA-384', sha256: 'SHA-256', sha1: 'SHA-1' } as const;
type Algorithm = keyof typeof algorithms;
const strength: readonly Algorithm[] = ['sha512', 'sha384', 'sha256', 'sha1'];

/** Base64 of any number of bytes (chunked: spreading a large array would overflow the stack). */
export function toBase64(bytes: Uint8Array | ArrayBuffer): string {
  const view = bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes);
  let text = '';
  for (let i = 0; i < view.length; i += 0x8000) text += String.fromCharCode(...view.subarray(i, i + 0x8000));
  return btoa(text);
}
const base64 = toBase64;
const hex = (bytes: ArrayBuffer) =>
  [...new Uint8Array(bytes)].map((b) => b.toString(16).padStart(2, '0')).join('');

/** The digests npm uses for a tarball: `sha512-<base64>` (integrity) and the sha1 hex (shasum). */
export async function digestsOf(
  bytes: Uint8Array,
): Promise<{ integrity: string; shasum: string; sha512Hex: string }> {
  const [sha512, sha1] = await Promise.all([
    crypto.subtle.digest('SHA-512', bytes as BufferSource),
    crypto.subtle.digest('SHA-1', bytes as BufferSource),
  ]);
  return { integrity: `sha512-${base64(sha512)}`, shasum: hex(sha1), sha512Hex: hex(sha512) };
}

/**
 * Whether bytes match a Subresource Integrity string as npm writes it (`sha512-… sha1-…`): the
 * strongest algorithm listed decides, and one of its digests must match. Undefined when the string
 * names no algorithm we know (the caller treats that as "no integrity given").
 */
export async function matchesIntegrity(bytes: Uint8Array, sri: string): Promise<boolean | undefined> {
  const entries = sri
    .trim()
    .split(/\s+/)
    .map((token) => /^(sha512|sha384|sha256|sha1)-([A-Za-z0-9+/]+={0,2})(\?.*)?$/.exec(token))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => ({ algorithm: m[1] as Algorithm, digest: m[2]! }));
  const algorithm = strength.find((a) => entries.some((e) => e.algorithm === a));
  if (!algorithm) return undefined;
  const actual = base64(await crypto.subtle.digest(algorithms[algorithm], bytes as BufferSource));
  return entries.some((e) => e.algorithm === algorithm && e.digest === actual);
}

/** A registry `dist.shasum` (sha1 hex) as an SRI string. */
export function shasumToIntegrity(shasum: string): string | undefined {
  if (!/^[0-9a-f]{40}$/i.test(shasum)) return undefined;
  const bytes = shasum.match(/../g)!.map((h) => Number.parseInt(h, 16));
  return `sha1-${btoa(String.fromCharCode(...bytes))}`;
}
