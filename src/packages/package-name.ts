import validateName from 'validate-npm-package-name';

/** Valid npm package names, old ones included, and nothing that could escape a path. */
export function validPackageName(name: string): boolean {
  if (name.length === 0 || name.length > 214) return false;
  if (!validateName(name).validForOldPackages) return false;
  if (
    name.includes('..') ||
    name.includes('\\') ||
    [...name].some((c) => c.charCodeAt(0) < 32 || c.charCodeAt(0) === 127)
  ) {
    return false;
  }
  const parts = name.split('/');
  if (parts.length > 2 || (parts.length === 2 && !parts[0]!.startsWith('@'))) return false;
  const base = parts.at(-1)!;
  return !base.startsWith('.') && !base.startsWith('_');
}
