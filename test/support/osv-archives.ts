import { strToU8, zipSync } from 'fflate';

/**
 * A zip whose entry `liar` inflates to `actualBytes` while both its local header and its central
 * directory record claim 100 bytes: what a forged archive does to slip past a size check.
 */
export function forgedSizeZip(files: Record<string, string>, liar: string, actualBytes: number): Uint8Array {
  const bytes = zipSync({
    ...Object.fromEntries(Object.entries(files).map(([k, v]) => [k, strToU8(v)])),
    [liar]: new Uint8Array(actualBytes).fill(32),
  });
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const name = strToU8(liar);
  const named = (at: number, nameAt: number) => name.every((b, i) => bytes[at + nameAt + i] === b);
  let forged = 0;
  for (let at = 0; at + 46 < bytes.length; at++) {
    const signature = view.getUint32(at, true);
    if (signature === 0x04034b50 && named(at, 30)) {
      view.setUint32(at + 22, 100, true);
      forged++;
    } else if (signature === 0x02014b50 && named(at, 46)) {
      view.setUint32(at + 24, 100, true);
      forged++;
    }
  }
  if (forged !== 2) throw new Error(`forged ${forged} size fields of ${liar}, expected 2`);
  return bytes;
}
