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

/** The parsed entries of a Subresource Integrity string whose algorithm we know. */
function entriesOf(sri: string): { algorithm: Algorithm; digest: string }[] {
  return sri
    .trim()
    .split(/\s+/)
    .map((token) => /^(sha512|sha384|sha256|sha1)-([A-Za-z0-9+/]+={0,2})(\?.*)?$/.exec(token))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => ({ algorithm: m[1] as Algorithm, digest: m[2]! }));
}

/**
 * A checker of one byte array against Subresource Integrity strings as npm writes them
 * (`sha512-… sha1-…`), with ssri's semantics: the strongest algorithm listed decides, and one of its
 * digests must match. It answers undefined when the string names no algorithm we know (the caller
 * treats that as "no integrity given"). Each digest is computed once, however many strings are checked.
 */
export function integrityChecker(bytes: Uint8Array): (sri: string) => Promise<boolean | undefined> {
  const digests = new Map<Algorithm, Promise<string>>();
  const digest = (algorithm: Algorithm) => {
    let pending = digests.get(algorithm);
    if (!pending) {
      pending = crypto.subtle.digest(algorithms[algorithm], bytes as BufferSource).then(base64);
      digests.set(algorithm, pending);
    }
    return pending;
  };
  return async (sri) => {
    const entries = entriesOf(sri);
    const algorithm = strength.find((a) => entries.some((e) => e.algorithm === a));
    if (!algorithm) return undefined;
    const actual = await digest(algorithm);
    return entries.some((e) => e.algorithm === algorithm && e.digest === actual);
  };
}

/** Whether bytes match one Subresource Integrity string (see {@link integrityChecker}). */
export function matchesIntegrity(bytes: Uint8Array, sri: string): Promise<boolean | undefined> {
  return integrityChecker(bytes)(sri);
}

/**
 * Whether two Subresource Integrity strings name the same bytes: the strongest algorithm both list
 * decides (ssri's rule), and they agree when a digest of it is in both; undefined when they share no
 * algorithm we know (a `sha1-` lockfile entry against a recorded `sha512-`: nothing to compare).
 */
export function sameIntegrity(a: string, b: string): boolean | undefined {
  const left = entriesOf(a);
  const right = entriesOf(b);
  const algorithm = strength.find(
    (x) => left.some((e) => e.algorithm === x) && right.some((e) => e.algorithm === x),
  );
  if (!algorithm) return undefined;
  const digests = new Set(right.filter((e) => e.algorithm === algorithm).map((e) => e.digest));
  return left.some((e) => e.algorithm === algorithm && digests.has(e.digest));
}

/** A registry `dist.shasum` (sha1 hex) as an SRI string. */
export function shasumToIntegrity(shasum: string): string | undefined {
  if (!/^[0-9a-f]{40}$/i.test(shasum)) return undefined;
  const bytes = shasum.match(/../g)!.map((h) => Number.parseInt(h, 16));
  return `sha1-${btoa(String.fromCharCode(...bytes))}`;
}
