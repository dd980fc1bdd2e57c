/**
 * Opens sealed values once: keyed by the sealed text and its context, so a value written again (a
 * re-enrolled agent's key, a new registry password) is sealed anew, misses and is opened afresh —
 * nothing stale is ever answered. Opening goes through WebCrypto's thread pool: measured 2–120 ms a
 * call on a loaded 2-core host (the hop to the pool and back waits for the CPU twice), paid on every
 * image build and push before. Bounded: past `max` entries the oldest goes.
 */
export function openedSecrets(
  sealer: { open(sealed: string, context: string): Promise<string> },
  max = 1000,
) {
  const opened = new Map<string, Promise<string>>();
  return (sealed: string, context: string): Promise<string> => {
    const key = `${context}\n${sealed}`;
    const known = opened.get(key);
    if (known) return known;
    const opening = sealer.open(sealed, context);
    opened.set(key, opening);
    // A value that does not open is not kept: the next call tries (and fails) again.
    opening.catch(() => opened.delete(key));
    if (opened.size > max) opened.delete(opened.keys().next().value as string);
    return opening;
  };
}
