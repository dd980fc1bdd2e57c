import { type Algorithm, hash, parseOptions, verify } from '@node-rs/argon2';
import { z } from 'zod';
import { type PasswordHasher, verifyOrDummy } from '../commands/identity/index.ts';
import common from './common-passwords.json' with { type: 'json' };

/** The port lives with the identity commands; this file is its argon2id adapter. */
export { type PasswordHasher, verifyOrDummy };

/** argon2id cost parameters (memory in KiB). */
export interface Argon2Params {
  memoryCost: number;
  timeCost: number;
  parallelism: number;
}

/** OWASP's argon2id recommendation: 19 MiB, 2 passes, 1 lane. */
export const owaspArgon2id: Readonly<Argon2Params> = { memoryCost: 19456, timeCost: 2, parallelism: 1 };

// A declared const enum cannot be read under isolatedModules; 2 is Algorithm.Argon2id.
const ARGON2ID = 2 as Algorithm;

/** The argon2id adapter on @node-rs/argon2; parameters come from configuration. */
export function argon2idHasher(params: Argon2Params = owaspArgon2id): PasswordHasher {
  const options = { algorithm: ARGON2ID, ...params };
  return {
    hash: (password) => hash(password, options),
    async verify(hashed, password) {
      try {
        return await verify(hashed, password);
      } catch {
        return false;
      }
    },
    needsRehash(hashed) {
      try {
        const used = parseOptions(hashed);
        return (
          used.algorithm !== ARGON2ID ||
          used.memoryCost !== params.memoryCost ||
          used.timeCost !== params.timeCost ||
          used.parallelism !== params.parallelism
        );
      } catch {
        return true;
      }
    },
  };
}

export const PASSWORD_MIN = 8;
export const PASSWORD_MAX = 256;

const commonPasswords: ReadonlySet<string> = new Set(common.passwords);

/** True when the password (case-insensitively) is in the bundled list of common passwords. */
export function isCommonPassword(password: string): boolean {
  return commonPasswords.has(password.toLowerCase());
}

/** Number of entries in the bundled list (stated in the README and checked by a test). */
export const commonPasswordCount = commonPasswords.size;

/**
 * The password policy as a schema: 8–256 characters (code points, so an emoji counts once) and not
 * one of the bundled common passwords. No composition rules: length and a deny-list (NIST 800-63B).
 */
export const NewPassword = z
  .string()
  .refine((p) => [...p].length >= PASSWORD_MIN, `must be at least ${PASSWORD_MIN} characters`)
  .refine((p) => [...p].length <= PASSWORD_MAX, `must be at most ${PASSWORD_MAX} characters`)
  .refine((p) => !isCommonPassword(p), 'is too common: choose one that is not on lists of leaked passwords')
  .meta({ description: `${PASSWORD_MIN} to ${PASSWORD_MAX} characters, not a commonly used password` });
