const encoder = new TextEncoder();

/**
 * The partition a stream's events belong to: FNV-1a (32 bit) over the UTF-8 bytes of the stream id,
 * modulo the partition count. All events of one stream land in one partition, so they are handled
 * in order by one worker at a time. The function must never change: stored checkpoints depend on it.
 */
export function partitionOf(streamId: string, partitions: number): number {
  let hash = 0x811c9dc5;
  for (const byte of encoder.encode(streamId)) {
    hash ^= byte;
    hash = Math.imul(hash, 0x01000193);
  }
  return (hash >>> 0) % partitions;
}
