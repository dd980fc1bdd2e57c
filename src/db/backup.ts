import { type FileHandle, open, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { type Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import { type Kysely, sql } from 'kysely';
import tar from 'tar-stream';
import { z } from 'zod';
import { KEY_ENCRYPTION_KEY_FILE } from '../identity/index.ts';
import { LOCK_FILE } from './data-folder-lock.ts';
import type { PGliteDatabase } from './database.ts';
import type { Tables } from './tables.ts';

/*
 * Backups of an embedded PGlite Warden, taken while it serves: PostgreSQL's own online base backup
 * (what pg_basebackup does), which PGlite runs as it is. `pg_backup_start` makes a checkpoint; the
 * data folder is then copied from disk while Warden goes on serving and writing (a page written
 * meanwhile may be copied torn or stale, which the WAL replays over: full-page writes are on);
 * `pg_backup_stop` gives the `backup_label` that sends a restored server to that checkpoint, and
 * the WAL from the start to the stop goes in after. A restore is then PostgreSQL's crash recovery
 * of that copy. Copying PGlite's in-memory image instead (`dumpDataDir`) froze the event loop for the
 * whole copy (3.6 s at 40,000 events, 6 s at 100,000) and held the folder in memory.
 *
 * The archive: a gzipped tar of the header (`warden-backup.json`), the folder's files, the label,
 * the WAL, and the trailer (`warden-backup-end.json`: the events it holds, counted in the same hold
 * of the session as the stop). Not copied: the lock of the process that has the folder open, the
 * generated key-encryption key (a secret: a stolen backup opens no sealed key), and what
 * pg_basebackup leaves out (the postmaster's files, temporary statistics, notifications, snapshots,
 * replication slots, subtransactions, relation caches, old WAL).
 */

export const BACKUP_HEADER = 'warden-backup.json';
export const BACKUP_TRAILER = 'warden-backup-end.json';

export const BackupHeader = z.object({
  format: z.literal(1),
  takenAt: z.iso.datetime(),
  wardenVersion: z.string(),
  /** The last migration applied to it. */
  migration: z.string().nullable(),
  /** The folder's generated key-encryption key was left out: the restored data needs it (or the configured one). */
  generatedKeyLeftOut: z.boolean(),
});
export const BackupTrailer = z.object({
  /** Events in the backup, and the last one's position ('0' without any). */
  events: z.number().int().nonnegative(),
  position: z.string().regex(/^\d+$/),
});
export type BackupManifest = z.infer<typeof BackupHeader> & z.infer<typeof BackupTrailer>;

/** Names at the folder's top a backup never holds and a restore refuses to write. */
export const leftOut = (name: string) =>
  name.startsWith(LOCK_FILE) ||
  name === KEY_ENCRYPTION_KEY_FILE ||
  name.startsWith(`.${KEY_ENCRYPTION_KEY_FILE}.`) ||
  ['postmaster.pid', 'postmaster.opts', 'tablespace_map', 'backup_label.old'].includes(name);

/** Folders whose contents pg_basebackup leaves out (the folders themselves go in, empty). */
const EMPTIED = new Set([
  'pg_wal',
  'pg_stat_tmp',
  'pg_replslot',
  'pg_dynshmem',
  'pg_notify',
  'pg_serial',
  'pg_snapshots',
  'pg_subtrans',
]);
const skippedFile = (name: string) =>
  name === 'pg_internal.init' || name.endsWith('.tmp') || name === BACKUP_HEADER || name === BACKUP_TRAILER;

export class BackupInProgressError extends Error {
  override name = 'BackupInProgressError';
  constructor() {
    super('a backup of this database is already being taken');
  }
}

export interface Backup {
  header: z.infer<typeof BackupHeader>;
  /** The gzipped tar, written as it is read. */
  body: Readable;
  /** Once the body has been read to its end: the whole manifest. Rejects when the backup failed. */
  done: Promise<BackupManifest>;
}

/** Databases with a backup under way (PostgreSQL allows one per session, and PGlite is one session). */
const underWay = new WeakSet<PGliteDatabase>();

/**
 * Starts a backup of `database` (opened on a folder) and answers its header and body at once: the
 * files are read from disk as the body is consumed, so neither the event loop nor memory holds the
 * folder. The backup ends (`pg_backup_stop`) whatever happens to the body, so a client that leaves
 * halfway leaves no backup running. `generatedKey`: the key-encryption key was generated into the
 * folder (none is configured).
 */
export async function takeBackup(
  database: PGliteDatabase,
  options: { wardenVersion: string; generatedKey: boolean },
): Promise<Backup> {
  const folder = database.dataDir;
  if (folder === undefined) throw new Error('an in-memory database has no folder to back up');
  if (underWay.has(database)) throw new BackupInProgressError();
  underWay.add(database);
  const takenAt = new Date().toISOString();
  let start: { walFile: string; migration: string | null };
  try {
    start = await database.db.connection().execute(async (session) => {
      const started = await sql<{ file: string }>`
        select pg_walfile_name(lsn) as file from pg_backup_start(${`warden ${takenAt}`}, true) as lsn`.execute(
        session,
      );
      const migration = await sql<{ name: string }>`
        select name from warden_migrations order by name desc limit 1`.execute(session);
      return { walFile: started.rows[0]!.file, migration: migration.rows[0]?.name ?? null };
    });
  } catch (error) {
    underWay.delete(database);
    throw error;
  }
  const header = {
    format: 1 as const,
    takenAt,
    wardenVersion: options.wardenVersion,
    migration: start.migration,
    generatedKeyLeftOut: options.generatedKey,
  };
  const pack = tar.pack();
  const body = createGzip();
  const done = (async () => {
    let stopped = false;
    const stop = () => {
      stopped = true;
      return stopBackup(database.db);
    };
    try {
      await addText(pack, BACKUP_HEADER, `${JSON.stringify(header)}\n`);
      await copyTree(pack, folder, '');
      const end = await stop();
      await addText(pack, 'backup_label', end.label);
      await mkdirEntry(pack, 'pg_wal/archive_status');
      // The segments from the start's to the stop's (their names order them within a timeline).
      const segments = (await readdir(join(folder, 'pg_wal')))
        .filter((file) => /^[0-9A-F]{24}$/.test(file) && file >= start.walFile && file <= end.walFile)
        .sort();
      // Only a checkpoint recycles segments, and PGlite makes one during the copy only past
      // max_wal_size (1 GB) of writes: the oldest go first, so the start's tells.
      if (segments[0] !== start.walFile) {
        throw new Error(
          'the WAL since the backup started was recycled during the copy (a checkpoint, past max_wal_size of writes): take it again',
        );
      }
      for (const file of segments) await copyFile(pack, join(folder, 'pg_wal', file), `pg_wal/${file}`);
      const trailer = { events: end.events, position: end.position };
      await addText(pack, BACKUP_TRAILER, `${JSON.stringify(trailer)}\n`);
      pack.finalize();
      return { ...header, ...trailer };
    } catch (error) {
      if (!stopped) await stop().catch(() => {});
      pack.destroy(error as Error);
      throw error;
    } finally {
      underWay.delete(database);
    }
  })();
  done.catch(() => {});
  pipeline(pack, body).catch((error: unknown) => body.destroy(error as Error));
  return { header, body, done };
}

/** Ends the backup, counting the events in the same hold of the session: the copy holds exactly these. */
async function stopBackup(db: Kysely<Tables>) {
  return db.connection().execute(async (session) => {
    const events = await sql<{ n: number; position: string | null }>`
      select count(*)::int as n, max(position)::text as position from warden_events`.execute(session);
    const stopped = await sql<{ label: string; file: string }>`
      select labelfile as label, pg_walfile_name(lsn) as file from pg_backup_stop(false)`.execute(session);
    return {
      events: events.rows[0]!.n,
      position: events.rows[0]!.position ?? '0',
      label: stopped.rows[0]!.label,
      walFile: stopped.rows[0]!.file,
    };
  });
}

/** The folder's files and folders under `relative`, in name order. */
async function copyTree(pack: tar.Pack, root: string, relative: string): Promise<void> {
  const entries = await readdir(join(root, relative), { withFileTypes: true }).catch((error: unknown) => {
    // A folder removed while copying (a dropped database's): the WAL replays its removal.
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  });
  for (const entry of entries.sort((a, b) => (a.name < b.name ? -1 : 1))) {
    const name = relative ? `${relative}/${entry.name}` : entry.name;
    if (relative === '' && leftOut(entry.name)) continue;
    if (entry.isDirectory()) {
      await mkdirEntry(pack, name);
      if (!(relative === '' && EMPTIED.has(entry.name))) await copyTree(pack, root, name);
    } else if (entry.isFile() && !skippedFile(entry.name)) {
      await copyFile(pack, join(root, name), name);
    }
  }
}

/**
 * One file as it is now. Its size is taken when it is opened: a file that grows meanwhile is cut
 * there, one that shrinks is padded with zeros (both as pg_basebackup does; the WAL replays over
 * them), and one gone before it opens is passed over (the WAL replays its removal).
 */
async function copyFile(pack: tar.Pack, path: string, name: string): Promise<void> {
  let handle: FileHandle;
  try {
    handle = await open(path, 'r');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw error;
  }
  try {
    const size = (await handle.stat()).size;
    await new Promise<void>((resolve, reject) => {
      const entry = pack.entry({ name, size, mode: 0o600, mtime: new Date() }, (error) =>
        error ? reject(error) : resolve(),
      );
      const source =
        size === 0 ? null : handle.createReadStream({ start: 0, end: size - 1, autoClose: false });
      const sized = padTo(size);
      (source ? pipeline(source, sized, entry) : pipeline(sized, entry)).catch(reject);
      if (!source) sized.end();
    });
  } finally {
    await handle.close();
  }
}

/** Passes bytes through and, at the end, adds zeros up to `size`. */
function padTo(size: number): Transform {
  let seen = 0;
  return new Transform({
    transform(chunk: Buffer, _encoding, next) {
      seen += chunk.length;
      next(null, chunk);
    },
    flush(next) {
      next(null, seen < size ? Buffer.alloc(size - seen) : undefined);
    },
  });
}

function addText(pack: tar.Pack, name: string, text: string): Promise<void> {
  return new Promise((resolve, reject) => {
    pack.entry({ name, mode: 0o600, mtime: new Date() }, text, (error) =>
      error ? reject(error) : resolve(),
    );
  });
}

function mkdirEntry(pack: tar.Pack, name: string): Promise<void> {
  return new Promise((resolve, reject) => {
    pack.entry({ name, type: 'directory', mode: 0o700, mtime: new Date() }, (error) =>
      error ? reject(error) : resolve(),
    );
  });
}
