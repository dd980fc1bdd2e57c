import { KeyObject, sign } from 'node:crypto';
import fc from 'fast-check';
import { errors, generateKeyPair, type JWTPayload, jwtVerify, SignJWT } from 'jose';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  type CompactJwt,
  parseCompactJwt,
  signEdDSAJwt,
  verifyEdDSAJwt,
} from '../../src/crypto/eddsa-jwt.ts';
import { type SignatureMemo, signatureMemo } from '../../src/crypto/signature-memo.ts';

/**
 * The hot-path EdDSA JWTs (node:crypto) against jose, the library they replace on that path: the
 * same bytes out, and the same verdict — accepted, or refused with the same jose error class — for
 * any claims, any clock and any tampered token.
 */
const NOW = new Date('2026-12-03T10:00:00Z');
const T = Math.floor(NOW.getTime() / 1000);
const OPTIONS = {
  typ: 'at+jwt',
  audience: 'warden',
  issuer: 'https://issuer.example',
  currentDate: NOW,
  requiredClaims: ['sub', 'jti', 'exp', 'iat'],
};

/** Claims that pass every check at NOW: the tests tamper with a token made of them. */
const VALID = { iss: OPTIONS.issuer, aud: 'warden', sub: 's', jti: 'j', iat: T, exp: T + 600 };

let keys: { publicKey: CryptoKey; privateKey: CryptoKey };
let other: { publicKey: CryptoKey; privateKey: CryptoKey };
beforeAll(async () => {
  keys = await generateKeyPair('EdDSA', { crv: 'Ed25519' });
  other = await generateKeyPair('EdDSA', { crv: 'Ed25519' });
});

const joseSign = (payload: JWTPayload, header: Record<string, unknown> = { kid: 'k1', typ: 'at+jwt' }) =>
  new SignJWT(payload).setProtectedHeader({ alg: 'EdDSA', ...header }).sign(keys.privateKey);

/** Each verifier's verdict: the payload, or the name of the jose error class it threw. */
async function verdicts(token: string, key = keys.publicKey) {
  const ours = await verifyEdDSAJwt(token, async () => key, OPTIONS).then(
    (r) => r.payload,
    (error: Error) => error.constructor.name,
  );
  const theirs = await jwtVerify(token, key, { ...OPTIONS, algorithms: ['EdDSA'], clockTolerance: 0 }).then(
    (r) => r.payload,
    (error: Error) => error.constructor.name,
  );
  return { ours, theirs };
}

const claims = fc.record(
  {
    iss: fc.constantFrom('https://issuer.example', 'https://other.example'),
    aud: fc.oneof(fc.constantFrom('warden', 'elsewhere'), fc.constant<string[]>(['elsewhere', 'warden'])),
    sub: fc.uuid(),
    jti: fc.uuid(),
    iat: fc.integer({ min: T - 900, max: T + 60 }),
    nbf: fc.integer({ min: T - 900, max: T + 60 }),
    exp: fc.integer({ min: T - 60, max: T + 900 }),
    scope: fc.string({ maxLength: 20 }),
  },
  { requiredKeys: ['sub', 'aud'] },
);

describe('EdDSA JWTs on node:crypto', () => {
  it('signs the very bytes jose signs (Ed25519 is deterministic), header and claim order included', async () => {
    await fc.assert(
      fc.asyncProperty(claims, async (payload) => {
        const ours = await signEdDSAJwt({ kid: 'k1', typ: 'at+jwt' }, payload, keys.privateKey);
        expect(ours).toBe(await joseSign(payload));
      }),
      { numRuns: 50 },
    );
  });

  it('accepts and refuses exactly as jose does, for any claims against the clock, issuer and audience', async () => {
    await fc.assert(
      fc.asyncProperty(claims, async (payload) => {
        const { ours, theirs } = await verdicts(await joseSign(payload));
        expect(ours).toEqual(theirs);
      }),
      { numRuns: 150 },
    );
  });

  it('refuses any tampered token: one character changed, cut or added anywhere (stricter than jose, whose base64 decoding takes a space inside the signature, or another spelling of its last character)', async () => {
    const token = await joseSign(VALID);
    const alphabet = 'ABCxyz019-_.=+/ ';
    await fc.assert(
      fc.asyncProperty(
        fc.nat({ max: token.length - 1 }),
        fc.constantFrom(...alphabet),
        fc.constantFrom('replace', 'insert', 'delete'),
        async (at, char, how) => {
          const changed =
            how === 'replace'
              ? token.slice(0, at) + char + token.slice(at + 1)
              : how === 'insert'
                ? token.slice(0, at) + char + token.slice(at)
                : token.slice(0, at) + token.slice(at + 1);
          if (changed === token) return;
          const { ours } = await verdicts(changed);
          expect(typeof ours).toBe('string');
        },
      ),
      { numRuns: 300 },
    );
  });

  it('refuses every other spelling of the signature’s last character (jose takes them: 15 per token)', async () => {
    const token = await joseSign(VALID);
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    let joseTook = 0;
    for (const char of alphabet) {
      const respelled = token.slice(0, -1) + char;
      if (respelled === token) continue;
      const { ours, theirs } = await verdicts(respelled);
      expect(ours).toBe('JWSSignatureVerificationFailed');
      if (typeof theirs !== 'string') joseTook++;
    }
    expect(joseTook).toBe(15);
  });

  it('refuses another key’s signature, alg none, HMAC confusion, crit and a wrong typ, with jose’s reasons', async () => {
    const good = await joseSign(VALID);
    expect((await verdicts(good, other.publicKey)).ours).toBe('JWSSignatureVerificationFailed');
    const [, body, signature] = good.split('.');
    const header = (h: object) => Buffer.from(JSON.stringify(h)).toString('base64url');
    const none = `${header({ alg: 'none', typ: 'at+jwt' })}.${body}.`;
    const hmac = `${header({ alg: 'HS256', typ: 'at+jwt' })}.${body}.${signature}`;
    const crit = `${header({ alg: 'EdDSA', typ: 'at+jwt', crit: ['exp'], exp: 1 })}.${body}.${signature}`;
    for (const token of [none, hmac, crit]) {
      const { ours, theirs } = await verdicts(token);
      expect(typeof ours).toBe('string');
      expect(typeof theirs).toBe('string');
    }
    expect((await verdicts(none)).ours).toBe('JWSInvalid');
    expect((await verdicts(hmac)).ours).toBe('JOSEAlgNotAllowed');
    const wrongTyp = await joseSign(VALID, { kid: 'k1', typ: 'JWT' });
    expect(await verdicts(wrongTyp)).toEqual({
      ours: 'JWTClaimValidationFailed',
      theirs: 'JWTClaimValidationFailed',
    });
    const expired = await joseSign({ ...VALID, exp: T });
    expect((await verdicts(expired)).ours).toBe('JWTExpired');
    expect(new errors.JWTExpired('x', {}) instanceof errors.JOSEError).toBe(true);
  });

  it('decodes a token once for routing and verifying: its claims only after the signature held, so a forged token with bad claims fails on its signature, as with jose', async () => {
    const good = await joseSign(VALID);
    const [head, , signature] = good.split('.') as [string, string, string];
    const notJson = Buffer.from('not json').toString('base64url');
    // Forged: the bad claims under another token's signature.
    expect(await verdicts(`${head}.${notJson}.${signature}`)).toEqual({
      ours: 'JWSSignatureVerificationFailed',
      theirs: 'JWSSignatureVerificationFailed',
    });
    // Truly signed, the same bad claims fail on themselves.
    const input = `${head}.${notJson}`;
    const key = KeyObject.from(keys.privateKey);
    const signed = `${input}.${sign(null, Buffer.from(input), key).toString('base64url')}`;
    expect(await verdicts(signed)).toEqual({ ours: 'JWTInvalid', theirs: 'JWTInvalid' });
    // Decoded first (the header at once, the claims when asked), then verified without decoding again.
    const parsed = parseCompactJwt(good);
    expect(parsed.header).toEqual({ alg: 'EdDSA', kid: 'k1', typ: 'at+jwt' });
    expect(parsed.payload()).toBe(parsed.payload());
    expect((await verifyEdDSAJwt(parsed, async () => keys.publicKey, OPTIONS)).payload).toBe(
      parsed.payload(),
    );
    const forged = parseCompactJwt(`${head}.${notJson}.${signature}`);
    expect(() => forged.payload()).toThrow(errors.JWTInvalid);
    await expect(verifyEdDSAJwt(forged, async () => keys.publicKey, OPTIONS)).rejects.toThrow(
      errors.JWSSignatureVerificationFailed,
    );
  });

  it('decodes a token presented again once: a good signature keeps the token as it was decoded, a forged one keeps nothing', async () => {
    const memo = signatureMemo<CompactJwt>(4);
    const token = await joseSign(VALID);
    const forged = `${token.slice(0, -2)}${token.at(-2) === 'A' ? 'B' : 'A'}${token.at(-1)}`;
    expect(memo.decoded(token)).toBeUndefined();
    const first = await verifyEdDSAJwt(token, async () => keys.publicKey, { ...OPTIONS, signatures: memo });
    const decoded = memo.decoded(token);
    expect(decoded?.token).toBe(token);
    // The claims are the very object the first verification read: nothing is decoded again.
    expect(decoded?.payload()).toBe(first.payload);
    const again = await verifyEdDSAJwt(decoded ?? token, async () => keys.publicKey, {
      ...OPTIONS,
      signatures: memo,
    });
    expect(again.payload).toBe(first.payload);
    await expect(
      verifyEdDSAJwt(forged, async () => keys.publicKey, { ...OPTIONS, signatures: memo }),
    ).rejects.toThrow(errors.JWSSignatureVerificationFailed);
    expect(memo.decoded(forged)).toBeUndefined();
  });

  it('gives every verdict it gives without a memo of good signatures, whatever the memo remembers: another key, a later clock or a changed token is still refused', async () => {
    // With a memo, a token it holds is verified as it was first decoded (as the OAuth paths hand it on).
    const verdict = (token: string, key: CryptoKey, at: Date, memo?: SignatureMemo<CompactJwt>) =>
      verifyEdDSAJwt(memo?.decoded(token) ?? token, async () => key, {
        ...OPTIONS,
        currentDate: at,
        signatures: memo,
      }).then(
        (r) => r.payload,
        (error: Error) => error.constructor.name,
      );
    await fc.assert(
      fc.asyncProperty(
        claims,
        fc.array(
          fc.record({
            other: fc.boolean(),
            laterSeconds: fc.integer({ min: -120, max: 1200 }),
            flip: fc.option(fc.nat(), { nil: undefined }),
          }),
          { minLength: 1, maxLength: 6 },
        ),
        async (payload, presentations) => {
          const memo = signatureMemo<CompactJwt>(4);
          const token = await joseSign(payload);
          // The first presentation, at NOW with the right key, fills the memo if the signature is good.
          expect(await verdict(token, keys.publicKey, NOW, memo)).toEqual(
            await verdict(token, keys.publicKey, NOW),
          );
          for (const { other: otherKey, laterSeconds, flip } of presentations) {
            const key = otherKey ? other.publicKey : keys.publicKey;
            const at = new Date(NOW.getTime() + laterSeconds * 1000);
            const index = flip === undefined ? undefined : flip % token.length;
            const presented =
              index === undefined
                ? token
                : token.slice(0, index) + (token[index] === 'A' ? 'B' : 'A') + token.slice(index + 1);
            expect(await verdict(presented, key, at, memo)).toEqual(await verdict(presented, key, at));
          }
        },
      ),
      { numRuns: 100 },
    );
  });
});
