import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  aesKey,
  base64url,
  fromBase64url,
  keyFromToken,
  open,
  randomToken,
  seal,
  sha256,
} from '../../../src/identity/tokens/crypto.ts';

const key = () => aesKey(crypto.getRandomValues(new Uint8Array(32)));

describe('token crypto', () => {
  it('makes refresh tokens of 256 random bits as 43 base64url characters, never the same twice', () => {
    const tokens = new Set(Array.from({ length: 200 }, () => randomToken()));
    expect(tokens.size).toBe(200);
    for (const token of tokens) {
      expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/);
      expect(fromBase64url(token)).toHaveLength(32);
    }
  });

  it('round-trips base64url for any bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
        expect([...fromBase64url(base64url(bytes))]).toEqual([...bytes]);
      }),
    );
  });

  it('encodes as RFC 4648 §5 base64url without padding, for a view into a larger buffer too', () => {
    const reference = (bytes: Uint8Array) =>
      btoa(String.fromCharCode(...bytes))
        .replaceAll('+', '-')
        .replaceAll('/', '_')
        .replace(/=+$/, '');
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), fc.nat(8), (bytes, offset) => {
        const larger = new Uint8Array(offset + bytes.length + 3).fill(0xff);
        larger.set(bytes, offset);
        expect(base64url(larger.subarray(offset, offset + bytes.length))).toBe(reference(bytes));
      }),
    );
  });

  it('hashes deterministically and differently for different tokens', async () => {
    expect(await sha256('a')).toBe(await sha256('a'));
    expect(await sha256('a')).not.toBe(await sha256('b'));
    expect(await sha256('a')).toMatch(/^[A-Za-z0-9_-]{43}$/);
  });

  it('opens what it sealed, with the same key and context only', async () => {
    await fc.assert(
      fc.asyncProperty(fc.string(), fc.string({ minLength: 1 }), async (plaintext, context) => {
        const k = await key();
        const sealed = await seal(k, plaintext, context);
        expect(await open(k, sealed, context)).toBe(plaintext);
        await expect(open(k, sealed, `${context}x`)).rejects.toThrow();
        await expect(open(await key(), sealed, context)).rejects.toThrow();
      }),
      { numRuns: 30 },
    );
  });

  it('seals and opens as Web Crypto does (the values sealed before node:crypto did the work still open)', async () => {
    const encoder = new TextEncoder();
    await fc.assert(
      fc.asyncProperty(fc.string(), fc.string({ minLength: 1 }), async (plaintext, context) => {
        const k = await key();
        const iv = crypto.getRandomValues(new Uint8Array(12));
        const params = { name: 'AES-GCM', iv, additionalData: encoder.encode(context) };
        const web = new Uint8Array(await crypto.subtle.encrypt(params, k, encoder.encode(plaintext)));
        expect(await open(k, `v1.${base64url(iv)}.${base64url(web)}`, context)).toBe(plaintext);
        const [, ourIv, ours] = (await seal(k, plaintext, context)).split('.');
        const opened = await crypto.subtle.decrypt(
          { ...params, iv: fromBase64url(ourIv!) },
          k,
          fromBase64url(ours!),
        );
        expect(new TextDecoder().decode(opened)).toBe(plaintext);
      }),
      { numRuns: 30 },
    );
  });

  it('refuses a sealed value altered by one character', async () => {
    const k = await key();
    const sealed = await seal(k, 'secret', 'ctx');
    // A middle character carries six significant bits (the last one may carry only padding bits,
    // which decode to the same bytes), so this always changes the ciphertext.
    const at = Math.floor(sealed.length / 2);
    const other = sealed[at] === 'A' ? 'B' : 'A';
    await expect(open(k, `${sealed.slice(0, at)}${other}${sealed.slice(at + 1)}`, 'ctx')).rejects.toThrow();
  });

  it('derives the successor key from the predecessor token alone', async () => {
    const token = randomToken();
    const sealed = await seal(await keyFromToken(token), '{"pair":1}', 'successor-hash');
    expect(await open(await keyFromToken(token), sealed, 'successor-hash')).toBe('{"pair":1}');
    await expect(open(await keyFromToken(randomToken()), sealed, 'successor-hash')).rejects.toThrow();
  });
});
