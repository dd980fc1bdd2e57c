import { describe, expect, it } from 'vitest';
import {
  digestsOf,
  integrityChecker,
  matchesIntegrity,
  shasumToIntegrity,
} from '../../../src/packages/registry/integrity.ts';

const bytes = new TextEncoder().encode('the bytes of a tarball');
const other = new TextEncoder().encode('other bytes');

describe('npm integrity strings', () => {
  it('writes sha512 integrity and sha1 shasum as npm does (the values `npm pack` prints)', async () => {
    const { integrity, shasum, sha512Hex } = await digestsOf(bytes);
    expect(integrity).toMatch(/^sha512-[A-Za-z0-9+/]{86}==$/);
    expect(shasum).toMatch(/^[0-9a-f]{40}$/);
    expect(Buffer.from(integrity.slice(7), 'base64').toString('hex')).toBe(sha512Hex);
    const { createHash } = await import('node:crypto');
    expect(shasum).toBe(createHash('sha1').update(bytes).digest('hex'));
  });

  it('lets the strongest algorithm listed decide, like ssri: a wrong sha512 fails even next to a right sha1', async () => {
    const mine = await digestsOf(bytes);
    const theirs = await digestsOf(other);
    const sha1 = shasumToIntegrity(mine.shasum)!;
    expect(await matchesIntegrity(bytes, `${mine.integrity} ${sha1}`)).toBe(true);
    expect(await matchesIntegrity(bytes, `${theirs.integrity} ${sha1}`)).toBe(false);
    expect(await matchesIntegrity(bytes, `${theirs.integrity} ${mine.integrity}`)).toBe(true);
  });

  it('accepts a sha1-only integrity (old v1 lockfiles) as a sha1 check', async () => {
    const sha1 = shasumToIntegrity((await digestsOf(bytes)).shasum)!;
    expect(sha1).toMatch(/^sha1-/);
    expect(await matchesIntegrity(bytes, sha1)).toBe(true);
    expect(await matchesIntegrity(other, sha1)).toBe(false);
  });

  it('answers undefined for a string with no algorithm it knows, and ignores ssri options', async () => {
    expect(await matchesIntegrity(bytes, 'md5-AAAA')).toBeUndefined();
    expect(await matchesIntegrity(bytes, '')).toBeUndefined();
    expect(await matchesIntegrity(bytes, `${(await digestsOf(bytes)).integrity}?foo`)).toBe(true);
    expect(shasumToIntegrity('not hex')).toBeUndefined();
  });

  it('checks sha256 and sha384 too', async () => {
    const check = integrityChecker(bytes);
    for (const [algorithm, name] of [
      ['SHA-256', 'sha256'],
      ['SHA-384', 'sha384'],
    ] as const) {
      const digest = Buffer.from(await crypto.subtle.digest(algorithm, bytes)).toString('base64');
      expect(await check(`${name}-${digest}`)).toBe(true);
      expect(
        await check(
          `${name}-${Buffer.from(await crypto.subtle.digest(algorithm, other)).toString('base64')}`,
        ),
      ).toBe(false);
    }
  });
});
