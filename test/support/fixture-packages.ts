import { digestsOf, toBase64 } from '../../src/packages/registry/integrity.ts';
import type { Registry } from './verdaccio.ts';

export interface FixturePackage {
  name: string;
  version: string;
  /** Merged into the generated package.json (license, scripts, …). */
  packageJson?: Record<string, unknown>;
  /** More files under `package/`. */
  files?: Record<string, string | Uint8Array>;
}

const encoder = new TextEncoder();

/** Splits a path over ustar's `prefix` (155) and `name` (100) fields, as npm's tar does. */
function splitPath(path: string): { prefix: string; name: string } {
  if (encoder.encode(path).length <= 100) return { prefix: '', name: path };
  const cut = path.lastIndexOf('/', 155);
  if (cut <= 0 || encoder.encode(path.slice(cut + 1)).length > 100)
    throw new Error(`the fixture path is too long for ustar: ${path}`);
  return { prefix: path.slice(0, cut), name: path.slice(cut + 1) };
}

function header(path: string, size: number): Uint8Array {
  const block = new Uint8Array(512);
  const put = (offset: number, text: string) => block.set(encoder.encode(text), offset);
  const { prefix, name } = splitPath(path);
  put(0, name);
  put(345, prefix);
  put(100, '0000644\0');
  put(108, '0000000\0');
  put(116, '0000000\0');
  put(124, `${size.toString(8).padStart(11, '0')}\0`);
  put(136, `${(1_700_000_000).toString(8).padStart(11, '0')}\0`);
  put(148, '        ');
  put(156, '0');
  put(257, 'ustar\0');
  put(263, '00');
  const sum = block.reduce((a, b) => a + b, 0);
  put(148, `${sum.toString(8).padStart(6, '0')}\0 `);
  return block;
}

/** An uncompressed ustar archive of `package/<path>` entries. */
export function tarOf(entries: Record<string, string | Uint8Array>): Uint8Array {
  const parts: Uint8Array[] = [];
  for (const [path, content] of Object.entries(entries)) {
    const bytes = typeof content === 'string' ? encoder.encode(content) : content;
    parts.push(header(path, bytes.length), bytes, new Uint8Array((512 - (bytes.length % 512)) % 512));
  }
  parts.push(new Uint8Array(1024));
  return concat(parts);
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}

export async function gzip(bytes: Uint8Array): Promise<Uint8Array> {
  const stream = new Blob([bytes as BlobPart]).stream().pipeThrough(new CompressionStream('gzip'));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

/** A real npm-style tarball (gzipped tar, entries under `package/`). */
export async function packTarball(pkg: FixturePackage): Promise<Uint8Array> {
  const manifest = { name: pkg.name, version: pkg.version, license: 'MIT', ...pkg.packageJson };
  const files: Record<string, string | Uint8Array> = {
    'package/package.json': JSON.stringify(manifest, null, 2),
    'package/index.js': `module.exports = ${JSON.stringify(`${pkg.name}@${pkg.version}`)};\n`,
  };
  for (const [path, content] of Object.entries(pkg.files ?? {})) files[`package/${path}`] = content;
  return gzip(tarOf(files));
}

/** A tar bomb: a few KB of gzip that unpacks to `unpackedBytes` of zeros. */
export async function tarBomb(pkg: FixturePackage, unpackedBytes: number): Promise<Uint8Array> {
  const manifest = JSON.stringify({ name: pkg.name, version: pkg.version, license: 'MIT' });
  return gzip(
    tarOf({ 'package/package.json': manifest, 'package/zeros.bin': new Uint8Array(unpackedBytes) }),
  );
}

/**
 * A tarball cut short: the first `keep` of its bytes (half by default). The gzip stream ends in the
 * middle of the file data, as after a broken download or a corrupted upload.
 */
export async function truncatedTarball(pkg: FixturePackage, keep = 0.5): Promise<Uint8Array> {
  // Incompressible content, so the cut lands inside the file data rather than in the gzip trailer.
  const noise = crypto.getRandomValues(new Uint8Array(32 * 1024));
  const whole = await packTarball({ ...pkg, files: { ...pkg.files, 'noise.bin': noise } });
  return whole.slice(0, Math.floor(whole.length * keep));
}

/**
 * Publishes through the registry's HTTP publish API (what `npm publish` sends), optionally with
 * other bytes than the package would pack to (a tampered or broken tarball).
 */
export async function publishFixture(
  registry: Pick<Registry, 'url' | 'token'>,
  pkg: FixturePackage,
  options: { tarball?: Uint8Array; deprecated?: string } = {},
): Promise<{ integrity: string; shasum: string; tarball: Uint8Array }> {
  const tarball = options.tarball ?? (await packTarball(pkg));
  const { integrity, shasum } = await digestsOf(tarball);
  const manifest = { name: pkg.name, version: pkg.version, license: 'MIT', ...pkg.packageJson };
  const encoded = pkg.name.startsWith('@') ? `@${encodeURIComponent(pkg.name.slice(1))}` : pkg.name;
  const base = pkg.name.split('/').at(-1);
  const response = await fetch(`${registry.url}/${encoded}`, {
    method: 'PUT',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${registry.token}` },
    body: JSON.stringify({
      _id: pkg.name,
      name: pkg.name,
      'dist-tags': { latest: pkg.version },
      versions: {
        [pkg.version]: {
          ...manifest,
          _id: `${pkg.name}@${pkg.version}`,
          ...(options.deprecated ? { deprecated: options.deprecated } : {}),
          dist: { integrity, shasum, tarball: `${registry.url}/${pkg.name}/-/${base}-${pkg.version}.tgz` },
        },
      },
      _attachments: {
        [`${pkg.name}-${pkg.version}.tgz`]: {
          content_type: 'application/octet-stream',
          data: toBase64(tarball),
          length: tarball.length,
        },
      },
    }),
  });
  if (!response.ok)
    throw new Error(`publishing ${pkg.name}@${pkg.version}: ${response.status} ${await response.text()}`);
  if (options.deprecated) {
    // Verdaccio keeps `deprecated` only through a packument update, as `npm deprecate` sends it.
    const current = (await (
      await fetch(`${registry.url}/${encoded}?write=true`, {
        headers: { authorization: `Bearer ${registry.token}` },
      })
    ).json()) as { versions: Record<string, Record<string, unknown>> };
    current.versions[pkg.version]!.deprecated = options.deprecated;
    const updated = await fetch(`${registry.url}/${encoded}`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${registry.token}` },
      body: JSON.stringify(current),
    });
    if (!updated.ok)
      throw new Error(`deprecating ${pkg.name}@${pkg.version}: ${updated.status} ${await updated.text()}`);
  }
  return { integrity, shasum, tarball };
}
