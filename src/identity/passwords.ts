import { type Algorithm, hash, parseOptions, verify } from '@node-rs/argon2';
import { z } from 'zod';
import common from './common-passwords.json' with { type: 'json' };

/** argon2id cost parameters (memory in KiB). */
export interface Argon2Params {
  memoryCost: number;
  timeCost: number;
  parallelism: number;
}

/** OWASP's argon2id recommendation: 19 MiB, 2 passes, 1 lane. */
export const owaspArgon2id: Readonly<Argon2Params> = { memoryCost: 19456, timeCost: 2, parallelism: 1 };

/** The port the identity context hashes passwords through; the argon2id adapter is the one we ship. */
export interface PasswordHasher {
  hash(password: string): Promise<string>;
  /** False for a wrong password and for a hash it cannot read; never throws on either. */
  verify(hash: string, password: string): Promise<boolean>;
  /** True when the hash was made with other parameters (or another algorithm): rehash on next login. */
  needsRehash(hash: string): boolean;
}

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

const dummies = new WeakMap<PasswordHasher, Promise<string>>();

/**
 * Verifies a password against the user's hash, or — when there is no user — against a dummy hash
 * made once with the same hasher, so an unknown email costs the same argon2 work as a wrong password
 * and the answer's timing does not tell which emails exist.
 */
export async function verifyOrDummy(
  hasher: PasswordHasher,
  hashed: string | undefined,
  password: string,
): Promise<boolean> {
  if (hashed !== undefined) return hasher.verify(hashed, password);
  let dummy = dummies.get(hasher);
  if (!dummy) {
    dummy = hasher.hash(crypto.randomUUID());
    dummies.set(hasher, dummy);
  }
  await hasher.verify(await dummy, password);
  return false;
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
