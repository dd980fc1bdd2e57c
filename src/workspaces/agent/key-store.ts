import { access, constants, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { HostProbes } from './config.ts';

const KEY_FILE = 'agent-key.json';

/** The agent's own key, kept in its work folder so a restart keeps its enrolment. */
export interface KeyStore {
  read(): Promise<Uint8Array | undefined>;
  /** Writes the key once; false when a key is already there (the enrolment token is spent). */
  writeOnce(key: Uint8Array, enrolledAt: Date): Promise<boolean>;
}

export function fileKeyStore(workDir: string): KeyStore {
  const path = join(workDir, KEY_FILE);
  return {
    async read() {
      try {
        const stored = JSON.parse(await readFile(path, 'utf8')) as { key: string };
        return Uint8Array.from(Buffer.from(stored.key, 'base64url'));
      } catch {
        return undefined;
      }
    },
    async writeOnce(key, enrolledAt) {
      // Exclusive create: of two enrolments racing, one writes the key and the other is refused.
      try {
        await writeFile(
          path,
          JSON.stringify({
            key: Buffer.from(key).toString('base64url'),
            enrolled_at: enrolledAt.toISOString(),
          }),
          { mode: 0o600, flag: 'wx' },
        );
        return true;
      } catch (error) {
        if ((error as { code?: string }).code === 'EEXIST') return false;
        throw error;
      }
    },
  };
}

/** The host checks `checkAgentConfig` runs, on this machine's file system. */
export function nodeHostProbes(dockerAnswers: (socketPath: string) => Promise<boolean>): HostProbes {
  return {
    dockerAnswers,
    async folderProblem(dir) {
      try {
        if (!(await stat(dir)).isDirectory()) return 'is not a folder';
      } catch {
        return 'does not exist';
      }
      try {
        await access(dir, constants.R_OK | constants.W_OK);
        return undefined;
      } catch {
        return 'is not readable and writable';
      }
    },
    async enrolled(workDir) {
      try {
        await access(join(workDir, KEY_FILE));
        return true;
      } catch {
        return false;
      }
    },
  };
}
