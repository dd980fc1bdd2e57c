/**
 * Where npm's extractor writes a tarball entry. pacote extracts with node-tar and `strip: 1`: the
 * first `/`-separated segment is dropped whatever it is (`.`, empty, `package`), an entry with a `..`
 * left is skipped, a root left at the front (`/`, `\`, `c:`) is stripped, and the rest is resolved
 * against the package folder, so `.` and empty segments vanish: `package//package.json`,
 * `package/./package.json` and `x/\package.json` all land on the package's own package.json.
 */
export function extractedPath(entryPath: string): string | undefined {
  return resolve(entryPath.split('/').slice(1).join('/'));
}

/**
 * Every place an entry could land on some system: as node-tar does here (above), with backslashes as
 * separators (node-tar on Windows), and with a leading `./` dropped before the package folder (as other
 * extractors do). Names are folded as case-insensitive file systems (macOS, Windows) fold them, trailing
 * dots and spaces dropped as Windows drops them: `PACKAGE.JSON` overwrites `package.json` there.
 */
export function possiblePaths(entryPath: string): string[] {
  const variants = new Set<string>();
  for (const raw of [entryPath, entryPath.replaceAll('\\', '/'), entryPath.replace(/^(\.\/)+/, '')]) {
    const path = extractedPath(raw);
    if (path !== undefined) variants.add(fold(path));
  }
  return [...variants];
}

const fold = (path: string) =>
  path
    .split('/')
    .map((segment) =>
      segment
        .normalize('NFC')
        .replace(/[. ]+$/, '')
        .toUpperCase()
        .toLowerCase(),
    )
    .join('/');

function resolve(stripped: string): string | undefined {
  let rest = stripped;
  for (let root = rootOf(rest); root !== ''; root = rootOf(rest)) rest = rest.slice(root.length);
  // node-tar refuses any entry path with a `..` segment, backslashes counted as separators.
  if (rest.replaceAll('\\', '/').split('/').includes('..')) return undefined;
  const segments = rest.split('/').filter((segment) => segment !== '' && segment !== '.');
  return segments.length === 0 ? undefined : segments.join('/');
}

/**
 * The root node-tar strips from the front of a path, on every system: what Windows calls a root
 * (`\\server\share\`, `//?/c:/`, `c:`, `\`), except that a path starting with a single `/` loses just that.
 */
function rootOf(path: string): string {
  if (path.startsWith('/') && !path.startsWith('//?/')) return '/';
  return /^([\\/]{2}[^\\/]+[\\/]+[^\\/]+[\\/]?|[\\/]|[A-Za-z]:[\\/]?)/.exec(path)?.[0] ?? '';
}
