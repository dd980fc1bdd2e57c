import { createWriteStream } from 'node:fs';
import { mkdir, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { sql } from 'kysely';
import tar from 'tar-stream';
import type { z } from 'zod';
import {
  BACKUP_HEADER,
  BACKUP_TRAILER,
  BackupHeader,
  type BackupManifest,
  BackupTrailer,
  leftOut,
} from './backup.ts';
import { LOCK_FILE, lockDataFolder } from './data-folder-lock.ts';
import { connectPGlite, type PGliteDatabase } from './database.ts';

/** A backup that cannot be restored: not one of Warden's, damaged, or crafted to write outside. */
export class RestoreError extends Error {
  override name = 'RestoreError';
}

export interface RestoreResult {
  manifest: BackupManifest;
  files: number;
  bytes: number;
}

/**
 * Restores a backup (`takeBackup`) into `folder`, which must be absent or empty (nothing is
 * overwritten); a running Warden there is refused by its lock. Only plain files and folders inside
 * `folder` are written: a link, a device, `..` or an absolute path is refused, as is a file a backup
 * never holds. The database is then opened, which replays the backup's WAL (PostgreSQL's recovery
 * from its `backup_label`), and must hold the trailer's events up to its position. On any failure
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

/** A tar entry's name inside the folder: no leading `/` or `./`; null for the folder itself. */
function relativeName(name: string): string | null {
  const trimmed = name.replace(/^(\.?\/)+/, '').replace(/\/+$/, '');
  return trimmed === '' || trimmed === '.' ? null : trimmed;
}

async function extractInto(
  source: Readable,
  folder: string,
  onProgress: (bytes: number) => void,
): Promise<RestoreResult> {
  let header: z.infer<typeof BackupHeader> | null = null;
  let trailer: z.infer<typeof BackupTrailer> | null = null;
  let files = 0;
  let bytes = 0;
  const extract = tar.extract();
  extract.on('entry', (entry, stream, next) => {
    void (async () => {
      const name = relativeName(entry.name);
      if (header === null) {
        if (name !== BACKUP_HEADER) {
          throw new RestoreError('not a Warden backup: it does not open with its header');
        }
        header = parseJson(await text(stream), BackupHeader, 'header');
        return;
      }
      if (trailer !== null) throw new RestoreError(`refused: ${entry.name} after the backup's end`);
      if (name === BACKUP_TRAILER) {
        trailer = parseJson(await text(stream), BackupTrailer, 'trailer');
        return;
      }
      if (name === null) throw new RestoreError('an entry with no name');
      const parts = name.split('/');
      if (parts.some((part) => part === '' || part === '.' || part === '..') || name.includes('\\')) {
        throw new RestoreError(`refused: ${entry.name} would be written outside the data folder`);
      }
      if (leftOut(parts[0]!) || name === BACKUP_HEADER) throw new RestoreError(`refused: ${entry.name}`);
      const path = join(folder, ...parts);
      if (entry.type === 'directory') {
        await mkdir(path, { recursive: true, mode: 0o700 });
        stream.resume();
        return;
      }
      if (entry.type !== 'file') {
        throw new RestoreError(`refused: ${entry.name} is a ${entry.type}, not a file`);
      }
      await mkdir(join(folder, ...parts.slice(0, -1)), { recursive: true, mode: 0o700 });
      // `wx`: never over a file (or a link) already there.
      await pipeline(stream, createWriteStream(path, { flags: 'wx', mode: 0o600 }));
      files++;
      bytes += entry.size ?? 0;
      onProgress(bytes);
    })().then(
      () => next(),
      (error: unknown) => {
        stream.resume();
        next(error as Error);
      },
    );
  });
  try {
    await pipeline(source, createGunzip(), extract);
  } catch (error) {
    if (error instanceof RestoreError) throw error;
    throw new RestoreError(`the backup is damaged: ${(error as Error).message}`);
  }
  const [head, end] = [
    header as z.infer<typeof BackupHeader> | null,
    trailer as z.infer<typeof BackupTrailer> | null,
  ];
  if (head === null) throw new RestoreError('not a Warden backup: it is empty');
  if (end === null) throw new RestoreError('the backup is cut short: its end is missing');
  return { manifest: { ...head, ...end }, files, bytes };
}

function parseJson<T>(value: string, schema: z.ZodType<T>, what: string): T {
  let json: unknown;
  try {
    json = JSON.parse(value);
  } catch {
    throw new RestoreError(`not a Warden backup: its ${what} is not JSON`);
  }
  const parsed = schema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new RestoreError(
      `not a backup this Warden can restore: its ${what}'s ${issue?.path.join('.') || 'value'}: ${issue?.message ?? 'bad'}`,
    );
  }
  return parsed.data;
}

async function text(stream: Readable): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/** Opens the restored database (recovering it): it must hold the trailer's events, the last at its position. */
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
        `the restored database holds ${found.events} events up to ${found.position}; the backup says ${manifest.events} up to ${manifest.position}`,
      );
    }
  } catch (error) {
    if (error instanceof RestoreError) throw error;
    throw new RestoreError(`the restored database cannot be read: ${(error as Error).message}`);
  } finally {
    await database.close();
  }
}
