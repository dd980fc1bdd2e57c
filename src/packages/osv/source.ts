import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { type Entry, open as openZip, type ZipFile } from 'yauzl';
import { OsvRecord } from './record.ts';

export type OsvItem = { ok: true; record: OsvRecord } | { ok: false; error: string; file: string };

/** How far a source has been read: `total` is known before the first record (the archive's directory). */
export interface OsvProgress {
  done: number;
  total: number;
}

export interface OsvSourceOptions {
  /** Largest record accepted, in bytes once inflated; a bigger one refuses the whole archive. */
  maxEntryBytes?: number;
  /** Called after each record file is read. */
  onProgress?: (progress: OsvProgress) => void;
}

/** Default per-record cap: real OSV records are kilobytes; the largest npm ones stay well under 1 MB. */
export const DEFAULT_MAX_ENTRY_BYTES = 8 * 1024 * 1024;

/**
 * The archive cannot be read as OSV data: not a zip, an entry name leaving the archive, a record
 * larger than the cap, or data that does not inflate to what the directory says.
 */
export class OsvArchiveError extends Error {
  readonly code = 'ERR_OSV_ARCHIVE' as const;
  constructor(message: string) {
    super(message);
    this.name = 'OsvArchiveError';
  }
}

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
 * One zip, read with `lazyEntries`: the directory is walked one entry at a time and only the entry
 * being read is inflated (zlib streams, off the event loop). yauzl refuses absolute and `..` names
 * and entries that inflate to more than their directory record says.
 */
class Archive {
  #error: Error | undefined;
  private constructor(private readonly zip: ZipFile) {
    // An error yauzl emits between reads is kept for the next one instead of crashing the process.
    zip.on('error', (error: Error) => {
      this.#error ??= error;
    });
  }

  static open(path: string): Promise<Archive> {
    return new Promise((resolve, reject) => {
      openZip(path, { lazyEntries: true, autoClose: false, validateEntrySizes: true }, (error, zip) => {
        if (error || !zip)
          reject(new OsvArchiveError(`not a zip archive: ${error?.message ?? 'unreadable'}`));
        else resolve(new Archive(zip));
      });
    });
  }

  async *entries(): AsyncGenerator<Entry> {
    for (;;) {
      if (this.#error) throw new OsvArchiveError(this.#error.message);
      const entry = await new Promise<Entry | undefined>((resolve, reject) => {
        const done = () => {
          this.zip.off('entry', onEntry);
          this.zip.off('end', onEnd);
          this.zip.off('error', onError);
        };
        const onEntry = (e: Entry) => {
          done();
          resolve(e);
        };
        const onEnd = () => {
          done();
          resolve(undefined);
        };
        const onError = (error: Error) => {
          done();
          reject(new OsvArchiveError(error.message));
        };
        this.zip.on('entry', onEntry);
        this.zip.on('end', onEnd);
        this.zip.on('error', onError);
        this.zip.readEntry();
      });
      if (!entry) return;
      yield entry;
    }
  }

  /** The entry's text, refusing it once more than `cap` bytes came out (a bomb stops there). */
  async text(entry: Entry, cap: number): Promise<string> {
    let stream: Awaited<ReturnType<ZipFile['openReadStreamPromise']>>;
    try {
      stream = await this.zip.openReadStreamPromise(entry);
    } catch (error) {
      throw new OsvArchiveError(`${entry.fileName}: ${(error as Error).message}`);
    }
    const chunks: Buffer[] = [];
    let size = 0;
    try {
      for await (const chunk of stream as AsyncIterable<Buffer>) {
        size += chunk.length;
        if (size > cap)
          throw new OsvArchiveError(`${entry.fileName}: larger than ${cap} bytes once inflated`);
        chunks.push(chunk);
      }
    } catch (error) {
      stream.destroy();
      throw error instanceof OsvArchiveError
        ? error
        : new OsvArchiveError(`${entry.fileName}: ${(error as Error).message}`);
    }
    return Buffer.concat(chunks).toString('utf8');
  }

  close(): void {
    this.zip.close();
  }
}

const isRecordEntry = (entry: Entry) => !entry.fileName.endsWith('/') && entry.fileName.endsWith('.json');

/**
 * Checks a zip's directory before anything is imported, so a hostile or broken archive is refused
 * whole: entry names (yauzl), declared sizes against the cap. Returns the number of record files.
 */
async function surveyZip(path: string, cap: number): Promise<number> {
  const archive = await Archive.open(path);
  try {
    let records = 0;
    for await (const entry of archive.entries()) {
      if (!isRecordEntry(entry)) continue;
      if (entry.uncompressedSize > cap) {
        throw new OsvArchiveError(
          `${entry.fileName}: ${entry.uncompressedSize} bytes once inflated, more than the ${cap}-byte cap`,
        );
      }
      records++;
    }
    return records;
  } finally {
    archive.close();
  }
}

/**
 * OSV records from a folder (every `*.json` below it) or a `.zip` of them, as the OSV project
 * publishes them (`all.zip` per ecosystem). A file that is not a record is reported, not fatal; an
 * archive that cannot be trusted (see {@link OsvArchiveError}) throws, before any record when its
 * directory shows it. A zip is streamed: one entry in memory at a time.
 */
export async function* readOsvSource(path: string, options: OsvSourceOptions = {}): AsyncGenerator<OsvItem> {
  const cap = options.maxEntryBytes ?? DEFAULT_MAX_ENTRY_BYTES;
  const progress = { done: 0, total: 0 };
  const step = () => {
    progress.done++;
    options.onProgress?.({ ...progress });
  };
  if ((await stat(path)).isDirectory()) {
    const files: string[] = [];
    for await (const file of walk(path)) files.push(file);
    progress.total = files.length;
    options.onProgress?.({ ...progress });
    for (const file of files) {
      const size = (await stat(file)).size;
      yield size > cap
        ? { ok: false, error: `larger than ${cap} bytes`, file }
        : parseRecord(await readFile(file, 'utf8'), file);
      step();
    }
    return;
  }
  progress.total = await surveyZip(path, cap);
  options.onProgress?.({ ...progress });
  const archive = await Archive.open(path);
  try {
    for await (const entry of archive.entries()) {
      if (!isRecordEntry(entry)) continue;
      yield parseRecord(await archive.text(entry, cap), entry.fileName);
      step();
    }
  } finally {
    archive.close();
  }
}
