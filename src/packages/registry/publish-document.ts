import semver from 'semver';
import { toBase64 } from './integrity.ts';

/**
 * The tag a version that must not become `latest` is published under (an older version, or a
 * prerelease next to a stable one). npm's publish protocol needs some tag; this one disturbs nobody.
 */
export const BACKFILL_TAG = 'warden-backfill';

/**
 * Whether `version` should take `latest` from `current`: never backwards, and a prerelease never
 * displaces a stable release (what `npm install <name>` gets must not become a beta by mirroring).
 */
export function takesLatest(version: string, current: string | undefined): boolean {
  if (!current || !semver.valid(current)) return true;
  const stable = (v: string) => semver.prerelease(v) === null;
  if (stable(version) !== stable(current)) return stable(version);
  return semver.gt(version, current);
}

export interface PublishDocumentInput {
  /** The target's address, ending in `/`. */
  base: string;
  name: string;
  version: string;
  /** The tarball's package.json. */
  manifest: Record<string, unknown>;
  tarball: Uint8Array;
  integrity: string;
  shasum: string;
  tag: string;
}

/**
 * The body of `PUT /{name}` as `npm publish` sends it: the version document built from the
 * tarball's own package.json, the tag, and the tarball as a base64 attachment. A registry merges it
 * into an existing packument.
 */
export function publishDocument(input: PublishDocumentInput): Record<string, unknown> {
  const { base, name, version, manifest, tarball } = input;
  return {
    _id: name,
    name,
    ...(typeof manifest.description === 'string' ? { description: manifest.description } : {}),
    'dist-tags': { [input.tag]: version },
    versions: {
      [version]: {
        ...manifest,
        _id: `${name}@${version}`,
        name,
        version,
        dist: {
          integrity: input.integrity,
          shasum: input.shasum,
          tarball: `${base}${name}/-/${name.split('/').at(-1)}-${version}.tgz`,
        },
      },
    },
    access: null,
    _attachments: {
      [`${name}-${version}.tgz`]: {
        content_type: 'application/octet-stream',
        data: toBase64(tarball),
        length: tarball.length,
      },
    },
  };
}
