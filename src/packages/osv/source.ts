import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { unzipSync } from 'fflate';
import { OsvRecord } from './record.ts';

export type OsvItem = { ok: true; record: OsvRecord } | { ok: false; error: string; file: string };

function parseRecord(text: string, file: string): OsvItem {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    return { ok: false, error: `not JSON: ${(error as Error).message}`, file };
  }
  const parsed = OsvRecord.safeParse(json);
  if (!parsed.success) {
    return {
      ok: false,
      error: parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; '),
      file,
    };
  }
  return { ok: true, record: parsed.data };
}

async function* walk(folder: string): AsyncGenerator<string> {
  for (const entry of (await readdir(folder, { withFileTypes: true })).sort((a, b) =>
    a.name.localeCompare(b.name),
  )) {
    const path = join(folder, entry.name);
    if (entry.isDirectory()) yield* walk(path);
    else if (entry.isFile() && entry.name.endsWith('.json')) yield path;
  }
}

/**
 * OSV records from a folder (every `*.json` below it) or a `.zip` of them, as the OSV project
 * publishes them (`all.zip` per ecosystem). A file that is not a record is reported, not fatal.
 */
export async function* readOsvSource(path: string): AsyncGenerator<OsvItem> {
  if ((await stat(path)).isDirectory()) {
    for await (const file of walk(path)) yield parseRecord(await readFile(file, 'utf8'), file);
    return;
  }
  const files = unzipSync(new Uint8Array(await readFile(path)), { filter: (f) => f.name.endsWith('.json') });
  const decoder = new TextDecoder();
  for (const name of Object.keys(files).sort()) yield parseRecord(decoder.decode(files[name]), name);
}
