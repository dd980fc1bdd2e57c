/**
 * Reads a body to its end, up to `limit` bytes: past the limit it stops reading, cancels the stream
 * and answers `'too_large'`, so a body that lies about (or omits) its length never sits in memory
 * whole. No body reads as empty. An error of the stream itself (a broken connection) is thrown as is.
 */
export async function readBoundedBody(
  body: ReadableStream<Uint8Array> | null | undefined,
  limit: number,
): Promise<Uint8Array | 'too_large'> {
  if (!body) return new Uint8Array(0);
  const reader = body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > limit) {
      await reader.cancel().catch(() => undefined);
      return 'too_large';
    }
    chunks.push(value);
  }
  const bytes = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return bytes;
}
