import { describe, expect, it } from 'vitest';
import { readBoundedBody } from '../../src/runtime/bounded-body.ts';

/** A stream of these chunks that records whether its reader cancelled it. */
function streamOf(chunks: number[]) {
  const seen = { cancelled: false, pulled: 0 };
  let index = 0;
  const stream = new ReadableStream<Uint8Array>({
    pull(controller) {
      const size = chunks[index++];
      if (size === undefined) return controller.close();
      seen.pulled++;
      controller.enqueue(new Uint8Array(size).fill(index));
    },
    cancel() {
      seen.cancelled = true;
    },
  });
  return { stream, seen };
}

describe('readBoundedBody', () => {
  it('joins the chunks of a body within the limit, the limit itself included', async () => {
    const { stream } = streamOf([3, 4, 3]);
    const bytes = await readBoundedBody(stream, 10);
    expect(bytes).toEqual(new Uint8Array([1, 1, 1, 2, 2, 2, 2, 3, 3, 3]));
  });

  it('stops at the first chunk past the limit and cancels the stream', async () => {
    const { stream, seen } = streamOf([6, 6, 6, 6]);
    expect(await readBoundedBody(stream, 10)).toBe('too_large');
    expect(seen.cancelled).toBe(true);
    expect(seen.pulled).toBeLessThan(4);
  });

  it('reads no body as empty', async () => {
    expect(await readBoundedBody(null, 10)).toEqual(new Uint8Array(0));
  });

  it('throws what the stream throws (a broken connection)', async () => {
    const stream = new ReadableStream<Uint8Array>({
      pull(controller) {
        controller.error(new Error('socket hang up'));
      },
    });
    await expect(readBoundedBody(stream, 10)).rejects.toThrow('socket hang up');
  });
});
