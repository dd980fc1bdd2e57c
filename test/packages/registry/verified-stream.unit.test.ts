import { sha1 } from '@noble/hashes/legacy.js';
import { sha256, sha384, sha512 } from '@noble/hashes/sha2.js';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { digestsOf } from '../../../src/packages/registry/integrity.ts';
import { verifiedStream } from '../../../src/packages/registry/verified-stream.ts';

const streamOf = (chunks: readonly Uint8Array[]) =>
  new ReadableStream<Uint8Array>({
    start(controller) {
      for (const chunk of chunks) controller.enqueue(chunk);
      controller.close();
    },
  });

/** What a reader of the stream received before it ended, and how it ended. */
async function drain(stream: ReadableStream<Uint8Array>) {
  const reader = stream.getReader();
  let received = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return { received, error: undefined };
      received += value.length;
    }
  } catch (error) {
    return { received, error: error as Error };
  }
}

const concat = (chunks: readonly Uint8Array[]) => {
  const all = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let at = 0;
  for (const c of chunks) {
    all.set(c, at);
    at += c.length;
  }
  return all;
};

describe('verifiedStream', () => {
  it('property: passes the bytes of the recorded integrity through whole, however they are chunked', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.uint8Array({ minLength: 1, maxLength: 64 }), { maxLength: 8 }),
        async (chunks) => {
          const { integrity } = await digestsOf(concat(chunks));
          const result = await drain(verifiedStream(streamOf(chunks), integrity));
          expect(result).toEqual({ received: concat(chunks).length, error: undefined });
        },
      ),
      { numRuns: 50 },
    );
  });

  it('property: ends other bytes with an error before their last chunk, so no client receives them whole', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.uint8Array({ minLength: 1, maxLength: 64 }), { minLength: 1, maxLength: 8 }),
        async (chunks) => {
          const { integrity } = await digestsOf(concat([...chunks, new Uint8Array([1])]));
          const result = await drain(verifiedStream(streamOf(chunks), integrity));
          expect(result.error?.message).toMatch(/not the bytes recorded/);
          expect(result.received).toBeLessThan(concat(chunks).length);
        },
      ),
      { numRuns: 50 },
    );
  });

  it('checks each algorithm an integrity may name, against digests of another implementation', async () => {
    const bytes = new TextEncoder().encode('a tarball, in two chunks');
    const chunks = [bytes.subarray(0, 7), bytes.subarray(7)];
    for (const [algorithm, hash] of [
      ['sha512', sha512],
      ['sha384', sha384],
      ['sha256', sha256],
      ['sha1', sha1],
    ] as const) {
      const integrity = `${algorithm}-${Buffer.from(hash(bytes)).toString('base64')}`;
      expect((await drain(verifiedStream(streamOf(chunks), integrity))).error, algorithm).toBeUndefined();
      const other = Uint8Array.from(bytes);
      other[3] = (other[3] ?? 0) ^ 1;
      const refused = await drain(
        verifiedStream(streamOf([other.subarray(0, 7), other.subarray(7)]), integrity),
      );
      expect(refused.error?.message, algorithm).toMatch(/not the bytes recorded/);
    }
  });

  it('lets the strongest algorithm listed decide', async () => {
    const bytes = new TextEncoder().encode('tarball');
    const { integrity } = await digestsOf(bytes);
    const wrongSha1 = 'sha1-AAAAAAAAAAAAAAAAAAAAAAAAAAA=';
    expect(
      (await drain(verifiedStream(streamOf([bytes]), `${wrongSha1} ${integrity}`))).error,
    ).toBeUndefined();
  });
});
