import { createWriteStream } from 'node:fs';
import { mkdir, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip, createGzip } from 'node:zlib';
import { sql } from 'kysely';
import tar from 'tar-stream';
import { z } from 'zod';
import { KEY_ENCRYPTION_KEY_FILE } from '../identity/index.ts';
import { LOCK_FILE, lockDataFolder } from './data-folder-lock.ts';
import { connectPGlite, type PGliteDatabase } from './database.ts';

/*
 * Backups of an embedded PGlite Warden, taken while it serves. PGlite's `dumpDataDir` copies the data
 * folder between two statements (it holds the one session, so it is consistent); the copy goes out as
 * a gzipped tar, led by a manifest, without the files that are not the database: the lock of the
 * process that has the folder open, and the generated key-encryption key, a secret kept out of
 * backups (as GitLab keeps its secrets file out of its own) so a stolen backup opens no sealed key.
 * A restore writes it into an empty folder and checks that the database it made holds what the
 * manifest says.
 */

/** The first entry of every backup. */
export const BACKUP_MANIFEST = 'warden-backup.json';

const Manifest = z.object({
  format: z.literal(1),
  takenAt: z.iso.datetime(),
  wardenVersion: z.string(),
  /** Events in the backup, and the last one's position ('0' without any). */
  events: z.number().int().nonnegative(),
  position: z.string().regex(/^\d+$/),
  /** The last migration applied to it. */
  migration: z.string().nullable(),
  /** The folder's generated key-encryption key was left out: the restored data needs it (or the configured one). */
  generatedKeyLeftOut: z.boolean(),
});
export type BackupManifest = z.infer<typeof Manifest>;

/** What a backup leaves out, and a restore refuses to write: by name at the folder's top. */
const leftOut = (name: string) =>
  name.startsWith(LOCK_FILE) ||
  name === 'postmaster.pid' ||
  name === KEY_ENCRYPTION_KEY_FILE ||
  name.startsWith(`.${KEY_ENCRYPTION_KEY_FILE}.`);

/** A backup that cannot be restored: not one of Warden's, damaged, or crafted to write outside. */
export class RestoreError extends Error {
  override name = 'RestoreError';
}

export interface Backup {
  manifest: BackupManifest;
  /** The gzipped tar: the manifest, then the data folder's files. */
  body: Readable;
}

/**
 * Takes a backup of `database`: the folder is copied while the manifest's figures are read, in the
 * same hold of the session, so they describe exactly what the copy holds. The copy is in memory (an
 * uncompressed tar of the folder); the returned body re-packs and gzips it as it is read.
 * `generatedKey`: the key-encryption key was generated into the folder (none is configured).
 */
export async function takeBackup(
  database: PGliteDatabase,
  options: { wardenVersion: string; generatedKey: boolean },
): Promise<Backup> {
  const { tar: folder, value } = await database.snapshot(async (db) => {
    const events = await sql<{ n: number; position: string | null }>`
      select count(*)::int as n, max(position)::text as position from warden_events`.execute(db);
    const migration = await sql<{ name: string }>`
      select name from warden_migrations order by name desc limit 1`.execute(db);
    return { events: events.rows[0]!, migration: migration.rows[0]?.name ?? null };
  });
  const manifest: BackupManifest = {
    format: 1,
    takenAt: new Date().toISOString(),
    wardenVersion: options.wardenVersion,
    events: value.events.n,
    position: value.events.position ?? '0',
    migration: value.migration,
    generatedKeyLeftOut: options.generatedKey,
  };
  const pack = tar.pack();
  pack.entry({ name: BACKUP_MANIFEST, mode: 0o600, mtime: new Date() }, `${JSON.stringify(manifest)}\n`);
  const extract = tar.extract();
  extract.on('entry', (header, stream, next) => {
    const name = relativeName(header.name);
    if (name === null || leftOut(name.split('/')[0]!)) {
      stream.on('end', next).resume();
      return;
    }
    stream.pipe(pack.entry({ ...header, name }, next));
  });
  pipeline(Readable.fromWeb(folder.stream() as never), extract).then(
    () => pack.finalize(),
    (error: unknown) => pack.destroy(error as Error),
  );
  const body = createGzip();
  pipeline(pack, body).catch((error: unknown) => body.destroy(error as Error));
  return { manifest, body };
}

/** A tar entry's name inside the folder: no leading `/` or `./`; null for the folder itself. */
function relativeName(name: string): string | null {
  const trimmed = name.replace(/^(\.?\/)+/, '').replace(/\/+$/, '');
  return trimmed === '' || trimmed === '.' ? null : trimmed;
}

export interface RestoreResult {
  manifest: BackupManifest;
  files: number;
  bytes: number;
}

/**
 * Restores a backup into `folder`, which must be absent or empty (nothing is overwritten); a running
 * Warden there is refused by its lock. Only plain files and folders inside `folder` are written (a
 * link, a device, `..` or an absolute path is refused, as is any file a backup never holds). Then
 * the database is opened and must hold the manifest's events up to its position. On any failure
 * what was written is removed again, leaving the folder empty.
 */
export async function restoreBackup(
  source: Readable,
  folder: string,
  onProgress: (bytes: number) => void = () => {},
): Promise<RestoreResult> {
  const lock = await lockDataFolder(folder, 'restore');
  let result: RestoreResult;
  try {
    const present = (await readdir(folder)).filter((name) => !name.startsWith(LOCK_FILE));
    if (present.length > 0) {
      throw new RestoreError(
        `${folder} is not empty (${present.slice(0, 3).join(', ')}${present.length > 3 ? ', …' : ''}): restore into a new folder`,
      );
    }
    try {
      result = await extractInto(source, folder, onProgress);
    } catch (error) {
      await emptyFolder(folder);
      throw error;
    }
  } finally {
    await lock.release();
  }
  try {
    await verify(folder, result.manifest);
  } catch (error) {
    await emptyFolder(folder);
    throw error;
  }
  return result;
}

async function emptyFolder(folder: string) {
  for (const name of await readdir(folder)) {
    if (!name.startsWith(LOCK_FILE)) await rm(join(folder, name), { recursive: true, force: true });
  }
}

async function extractInto(
  source: Readable,
  folder: string,
  onProgress: (bytes: number) => void,
): Promise<RestoreResult> {
  let manifest: BackupManifest | null = null;
  let files = 0;
  let bytes = 0;
  const extract = tar.extract();
  extract.on('entry', (header, stream, next) => {
    const done = (error?: unknown) => (error ? next(error as Error) : next());
    void (async () => {
      const name = relativeName(header.name);
      if (manifest === null) {
        if (name !== BACKUP_MANIFEST)
          throw new RestoreError('not a Warden backup: it does not open with its manifest');
        manifest = parseManifest(await text(stream));
        return;
      }
      if (name === null) throw new RestoreError('an entry with no name');
      const parts = name.split('/');
      if (parts.some((part) => part === '' || part === '.' || part === '..') || name.includes('\\')) {
        throw new RestoreError(`refused: ${header.name} would be written outside the data folder`);
      }
      if (leftOut(parts[0]!) || name === BACKUP_MANIFEST) throw new RestoreError(`refused: ${header.name}`);
      const path = join(folder, ...parts);
      if (header.type === 'directory') {
        await mkdir(path, { recursive: true, mode: 0o700 });
        stream.resume();
        return;
      }
      if (header.type !== 'file')
        throw new RestoreError(`refused: ${header.name} is a ${header.type}, not a file`);
      await mkdir(join(folder, ...parts.slice(0, -1)), { recursive: true, mode: 0o700 });
      // `wx`: never over a file (or a link) already there.
      await pipeline(stream, createWriteStream(path, { flags: 'wx', mode: 0o600 }));
      files++;
      bytes += header.size ?? 0;
      onProgress(bytes);
    })().then(
      () => done(),
      (error: unknown) => {
        stream.resume();
        done(error);
      },
    );
  });
  try {
    await pipeline(source, createGunzip(), extract);
  } catch (error) {
    if (error instanceof RestoreError) throw error;
    throw new RestoreError(`the backup is damaged: ${(error as Error).message}`);
  }
  if (manifest === null) throw new RestoreError('not a Warden backup: it is empty');
  return { manifest, files, bytes };
}

function parseManifest(textValue: string): BackupManifest {
  let value: unknown;
  try {
    value = JSON.parse(textValue);
  } catch {
    throw new RestoreError('not a Warden backup: its manifest is not JSON');
  }
  const parsed = Manifest.safeParse(value);
  if (!parsed.success) {
    throw new RestoreError(
      `not a backup this Warden can restore: ${parsed.error.issues[0]?.message ?? 'bad manifest'}`,
    );
  }
  return parsed.data;
}

async function text(stream: Readable): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/** Opens the restored database: it must hold the manifest's events, the last at its position. */
async function verify(folder: string, manifest: BackupManifest) {
  let database: PGliteDatabase;
  try {
    database = await connectPGlite({ dataDir: folder });
  } catch (error) {
    throw new RestoreError(`the restored folder does not open as a database: ${(error as Error).message}`);
  }
  try {
    const { rows } = await sql<{ n: number; position: string | null }>`
      select count(*)::int as n, max(position)::text as position from warden_events`.execute(database.db);
    const found = { events: rows[0]!.n, position: rows[0]!.position ?? '0' };
    if (found.events !== manifest.events || found.position !== manifest.position) {
      throw new RestoreError(
        `the restored database holds ${found.events} events up to ${found.position}; the manifest says ${manifest.events} up to ${manifest.position}`,
      );
    }
  } finally {
    await database.close();
  }
}
