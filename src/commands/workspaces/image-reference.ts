import { z } from 'zod';

/*
 * Docker's reference grammar (github.com/distribution/reference, `regexp.go`), written out so a
 * reference Warden takes is one the engine parses the same way: no `..`, `.` or empty path
 * component, no leading, trailing or doubled separator, lowercase paths. The engine's API puts an
 * image's name into its URL paths (`/images/{name}/json`), where `..` would be a path traversal.
 */
const alphanumeric = '[a-z0-9]+';
/** `.`, `_`, `__` or a run of `-`, always between two alphanumeric runs. */
const separator = '(?:[._]|__|-+)';
const pathComponent = `${alphanumeric}(?:${separator}${alphanumeric})*`;
const domainComponent = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
const port = '(?::[0-9]+)?';
/**
 * A registry host: a name with a dot, `localhost`, a bracketed IPv6 address, or any host with a
 * port. Docker reads any first component as a host in these cases only; other first components are
 * path components (so `Team/app` is an uppercase path, refused, not a host named `Team`).
 */
const domain =
  `(?:(?:${domainComponent}(?:\\.${domainComponent})+|localhost|\\[[a-fA-F0-9:]+\\])${port}` +
  `|${domainComponent}:[0-9]+)`;
const remoteName = `${pathComponent}(?:/${pathComponent})*`;
const tag = '[\\w][\\w.-]{0,127}';
const digest = '[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}';

/** `[host[:port]/]path[:tag][@digest]`: groups 1 the name, 2 the tag, 3 the digest. */
export const imageReferencePattern = new RegExp(
  `^((?:${domain}/)?${remoteName})(?::(${tag}))?(?:@(${digest}))?$`,
);

/** An image reference as Docker takes it (`name[:tag][@digest]`, optionally with a registry host). */
export const ImageRef = z
  .string()
  .max(255)
  .regex(imageReferencePattern, 'must be an image reference such as example/editor:1');
/** A catalog image's name: at most 4 lowercase path components as registries take them (`team/editor`). */
export const ImageName = z
  .string()
  .max(128)
  .regex(
    new RegExp(`^${pathComponent}(?:/${pathComponent}){0,3}$`),
    'must be lowercase letters and digits separated by ".", "_", "__" or "-" in path components (team/editor)',
  );
export const ImageTag = z.string().regex(new RegExp(`^${tag}$`), 'must be a tag such as 1.0 or latest');
