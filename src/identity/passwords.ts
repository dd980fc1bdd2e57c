import { type Algorithm, hash, parseOptions, verify } from '@node-rs/argon2';
import PQueue from 'p-queue';
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

/**
 * Hashes computed at once by default. @node-rs/argon2 runs each hash on libuv's threadpool (4 threads
 * unless `UV_THREADPOOL_SIZE` says otherwise), the same threads that run Web Crypto (token signatures,
 * AES-GCM), file system calls and DNS lookups. Unbounded, eight sign-ins in flight fill all four
 * threads with hashes and every signature queues behind them (measured: a 0.15 ms Ed25519 signature
 * took 68 ms at p50). Two hashes already keep two cores busy; the other threads stay free.
 */
export const DEFAULT_ARGON2_CONCURRENCY = 2;

/**
 * The argon2id adapter on @node-rs/argon2; parameters come from configuration. At most `concurrency`
 * hashes run at once; the rest wait in line here instead of in libuv's shared threadpool.
 */
export function argon2idHasher(
  params: Argon2Params = owaspArgon2id,
  concurrency = DEFAULT_ARGON2_CONCURRENCY,
): PasswordHasher {
  const options = { algorithm: ARGON2ID, ...params };
  const slots = new PQueue({ concurrency });
  return {
    hash: (password) => slots.add(() => hash(password, options), { throwOnTimeout: true }),
    async verify(hashed, password) {
      try {
        return await slots.add(() => verify(hashed, password), { throwOnTimeout: true });
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
