import { parseLockfile } from './lockfile.ts';
import { parsePnpmLockfile } from './lockfile-pnpm.ts';
import type { LockfileResult } from './lockfile-types.ts';
import { loadYaml } from './lockfile-yaml.ts';
import { parseYarnBerry, parseYarnClassic } from './lockfile-yarn.ts';

/** What the submitter says the lockfile is; without it, the text decides. */
export type LockfileKind = 'npm' | 'pnpm' | 'yarn';
export const LOCKFILE_KINDS = ['npm', 'pnpm', 'yarn'] as const;

/**
 * Which tool wrote this text: JSON is npm's package-lock.json, `# yarn lockfile v1` is Yarn v1, a
 * top-level `__metadata:` is Yarn Berry, a top-level `lockfileVersion:` pnpm. Each tool writes its
 * marker in the first lines, so only those are looked at.
 */
export function sniffLockfile(body: string): LockfileKind | 'yarn-classic' | 'yarn-berry' | undefined {
  const head = body.slice(0, 4096);
  if (/^\s*\{/.test(head)) return 'npm';
  if (/^#\s*yarn lockfile v1\s*$/m.test(head)) return 'yarn-classic';
  if (/^__metadata:\s*$/m.test(head)) return 'yarn-berry';
  if (/^["']?lockfileVersion["']?\s*:/m.test(head)) return 'pnpm';
  return undefined;
}

/**
 * Reads any lockfile Warden accepts (npm's package-lock.json v1–v3, pnpm-lock.yaml v6–v9, yarn.lock
 * v1 and Berry) into one package list. `kind` is the submitter's word; without it the text is sniffed.
 * Pure: every failure is a value naming its path, never an exception.
 */
export function parseLockfileText(body: string, kind?: LockfileKind): LockfileResult {
  const sniffed = sniffLockfile(body);
  const which =
    kind === 'yarn' ? (sniffed === 'yarn-berry' ? 'yarn-berry' : 'yarn-classic') : (kind ?? sniffed);
  switch (which) {
    case 'npm': {
      let json: unknown;
      try {
        json = JSON.parse(body);
      } catch {
        return {
          ok: false,
          errors: [{ path: '(body)', message: 'is not valid JSON: a package-lock.json is JSON' }],
        };
      }
      return parseLockfile(json);
    }
    case 'yarn-classic':
      return parseYarnClassic(body);
    case 'pnpm':
    case 'yarn-berry': {
      const loaded = loadYaml(body);
      if (!loaded.ok) return loaded;
      return which === 'pnpm' ? parsePnpmLockfile(loaded.value) : parseYarnBerry(loaded.value);
    }
    default:
      return {
        ok: false,
        errors: [
          {
            path: '(body)',
            message:
              'is not a lockfile Warden recognises: send a package-lock.json, pnpm-lock.yaml or yarn.lock (or name it with ?format=npm|pnpm|yarn)',
          },
        ],
      };
  }
}
