/** Whether the bytes open with a tar header: 512 bytes whose checksum field matches their sum. */
export function looksLikeTar(bytes: Uint8Array): boolean {
  if (bytes.length < 512) return false;
  const field = new TextDecoder()
    .decode(bytes.subarray(148, 156))
    .replace(/[\0 ]+$/, '')
    .trim();
  if (!/^[0-7]{1,8}$/.test(field)) return false;
  let sum = 0;
  for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 32 : (bytes[i] ?? 0);
  return sum === Number.parseInt(field, 8);
}
