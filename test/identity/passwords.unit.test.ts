import { describe, expect, it } from 'vitest';
import {
  argon2idHasher,
  commonPasswordCount,
  isCommonPassword,
  NewPassword,
  owaspArgon2id,
  verifyOrDummy,
} from '../../src/identity/passwords.ts';

// Cheap parameters where the test is about behaviour, not cost.
const cheap = argon2idHasher({ memoryCost: 1024, timeCost: 1, parallelism: 1 });

describe('argon2id password hasher', () => {
  it('hashes with argon2id at the OWASP parameters and verifies only the right password', async () => {
    const hasher = argon2idHasher(owaspArgon2id);
    const hash = await hasher.hash('correct horse battery staple');
    expect(hash).toMatch(/^\$argon2id\$v=19\$m=19456,t=2,p=1\$/);
    expect(await hasher.verify(hash, 'correct horse battery staple')).toBe(true);
    expect(await hasher.verify(hash, 'correct horse battery stapler')).toBe(false);
    expect(hasher.needsRehash(hash)).toBe(false);
  });

  it('asks for a rehash when the hash was made with other parameters, or is not argon2id', async () => {
    const hash = await cheap.hash('correct horse battery staple');
    expect(argon2idHasher(owaspArgon2id).needsRehash(hash)).toBe(true);
    expect(cheap.needsRehash(hash)).toBe(false);
    expect(cheap.needsRehash('$2b$10$abcdefghijklmnopqrstuv')).toBe(true);
  });

  it('keeps hashes out of the way of signatures: a signature asked for during a flood of verifies does not wait for them', async () => {
    // libuv's threadpool (4 threads here) runs argon2 and Web Crypto alike, first come first served.
    // Unbounded, the signature below would queue behind the first five of eight verifies; bounded to
    // two hashes at once, a thread is free for it at once. Ordering, not time: how many verifies had
    // finished when the signature came back.
    const hasher = argon2idHasher(owaspArgon2id, 2);
    const hash = await hasher.hash('correct horse battery staple');
    const { privateKey } = (await crypto.subtle.generateKey({ name: 'Ed25519' }, false, [
      'sign',
      'verify',
    ])) as CryptoKeyPair;
    let finished = 0;
    const verifies = Array.from({ length: 8 }, () =>
      hasher.verify(hash, 'correct horse battery staple').then((ok) => {
        finished++;
        return ok;
      }),
    );
    await crypto.subtle.sign('Ed25519', privateKey, new TextEncoder().encode('a token'));
    const finishedBeforeSignature = finished;
    expect(await Promise.all(verifies)).toEqual(Array(8).fill(true));
    expect(finishedBeforeSignature).toBeLessThan(2);
  });

  it('answers false (not an exception) for an unreadable hash', async () => {
    expect(await cheap.verify('not a hash', 'whatever-password')).toBe(false);
  });

  it('verifyOrDummy: an unknown user is refused after the same verify work as a wrong password', async () => {
    let verifies = 0;
    const counting = {
      ...cheap,
      verify: (h: string, p: string) => {
        verifies++;
        return cheap.verify(h, p);
      },
    };
    const hash = await counting.hash('a-good-password');
    expect(await verifyOrDummy(counting, hash, 'a-good-password')).toBe(true);
    expect(await verifyOrDummy(counting, hash, 'a-wrong-password')).toBe(false);
    // The dummy holds the right password for nothing: even the password used to make it fails.
    expect(await verifyOrDummy(counting, undefined, 'a-good-password')).toBe(false);
    expect(verifies).toBe(3);
  });
});

describe('password policy', () => {
  const problems = (p: string) => {
    const result = NewPassword.safeParse(p);
    return result.success ? [] : result.error.issues.map((i) => i.message);
  };

  it('bundles a real list of several thousand common passwords', () => {
    expect(commonPasswordCount).toBeGreaterThan(10_000);
    expect(isCommonPassword('password')).toBe(true);
    expect(isCommonPassword('PassWord')).toBe(true);
    expect(isCommonPassword('1qaz2wsx')).toBe(true);
    expect(isCommonPassword('plum-orbit-kettle-47')).toBe(false);
  });

  it('accepts 8 to 256 characters that are not common', () => {
    expect(problems('plum-orb')).toEqual([]);
    expect(problems(`${'x'.repeat(255)}y`)).toEqual([]);
  });

  it('refuses too short, too long and common passwords, each with its reason', () => {
    expect(problems('short7!')).toEqual(['must be at least 8 characters']);
    expect(problems('y'.repeat(257))).toEqual(['must be at most 256 characters']);
    expect(problems('baseball')[0]).toMatch(/too common/);
  });

  it('counts characters, not UTF-16 units: seven emoji are too short', () => {
    expect(problems('🔑'.repeat(7))).toEqual(['must be at least 8 characters']);
    expect(problems('🔑'.repeat(8))).toEqual([]);
  });
});
