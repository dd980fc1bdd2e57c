const encoder = new TextEncoder();

/** One tar entry written exactly as given: no path splitting or cleaning, so tests can build any path. */
export interface RawEntry {
  /** The `name` field (up to 100 bytes). */
  path: string;
  /** The ustar `prefix` field (up to 155 bytes). */
  prefix?: string;
  /** The type flag: `0` file, `5` folder, `2` symlink, `x` PAX header, `L` GNU long name, … */
  type?: string;
  linkpath?: string;
  content?: string | Uint8Array;
}

function header(entry: RawEntry, size: number): Uint8Array {
  const block = new Uint8Array(512);
  const put = (offset: number, text: string, max: number) => {
    const bytes = encoder.encode(text);
    if (bytes.length > max) throw new Error(`${JSON.stringify(text)} does not fit ${max} bytes`);
    block.set(bytes, offset);
  };
  put(0, entry.path, 100);
  put(100, '0000644\0', 8);
  put(108, '0000000\0', 8);
  put(116, '0000000\0', 8);
  put(124, `${size.toString(8).padStart(11, '0')}\0`, 12);
  put(136, `${(1_700_000_000).toString(8).padStart(11, '0')}\0`, 12);
  put(148, '        ', 8);
  put(156, entry.type ?? '0', 1);
  put(157, entry.linkpath ?? '', 100);
  put(257, 'ustar\0', 6);
  put(263, '00', 2);
  put(345, entry.prefix ?? '', 155);
  const sum = block.reduce((a, b) => a + b, 0);
  put(148, `${sum.toString(8).padStart(6, '0')}\0 `, 8);
  return block;
}

/** A PAX extended header record `<length> <key>=<value>\n` (the length counts itself). */
export function paxRecord(key: string, value: string): string {
  const body = ` ${key}=${value}\n`;
  let length = encoder.encode(body).length + 1;
  while (String(length).length + encoder.encode(body).length !== length) length++;
  return `${length}${body}`;
}

/** An uncompressed tar archive of the entries, in order, ended by two zero blocks. */
export function rawTar(entries: readonly RawEntry[], trailer: Uint8Array = new Uint8Array(1024)): Uint8Array {
  const parts: Uint8Array[] = [];
  for (const entry of entries) {
    const bytes =
      typeof entry.content === 'string'
        ? encoder.encode(entry.content)
        : (entry.content ?? new Uint8Array(0));
    parts.push(header(entry, bytes.length), bytes, new Uint8Array((512 - (bytes.length % 512)) % 512));
  }
  parts.push(trailer);
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}
