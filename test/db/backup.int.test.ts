import { randomUUID } from 'node:crypto';
import {
  cpSync,
  createReadStream,
  createWriteStream,
  existsSync,
  mkdtempSync,
  readdirSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip, gzipSync } from 'node:zlib';
import { sql } from 'kysely';
import tar from 'tar-stream';
import { afterAll, describe, expect, it } from 'vitest';
import { BACKUP_HEADER, BACKUP_TRAILER, takeBackup } from '../../src/db/backup.ts';
import { DataFolderInUseError, LOCK_FILE } from '../../src/db/data-folder-lock.ts';
import { connectPGlite, type PGliteDatabase } from '../../src/db/database.ts';
import { migrate } from '../../src/db/migrate.ts';
import { RestoreError, restoreBackup } from '../../src/db/restore.ts';
import { postgresEventStore } from '../../src/eventstore/postgres/store.ts';
import { KEY_ENCRYPTION_KEY_FILE } from '../../src/identity/tokens/key-encryption-key.ts';

const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});
function folder() {
  const dir = mkdtempSync(join(tmpdir(), 'warden-backup-'));
  dirs.push(dir);
  return dir;
}

/** One migrated, closed PGlite folder per file: each case starts from a copy (migrating takes seconds). */
let migrated: Promise<string> | undefined;
async function migratedFolder(): Promise<string> {
  const dir = join(folder(), 'data');
  const database = await connectPGlite({ dataDir: dir });
  await migrate(database);
  await database.close();
  return dir;
}

/** A migrated PGlite folder with `events` events and a generated key-encryption key beside them. */
async function source(events: number) {
  const dir = join(folder(), 'data');
  migrated ??= migratedFolder();
  cpSync(await migrated, dir, { recursive: true });
  writeFileSync(join(dir, KEY_ENCRYPTION_KEY_FILE), 'a-secret-that-stays-home\n');
  const database = await connectPGlite({ dataDir: dir });
  const store = postgresEventStore(database);
  for (let i = 0; i < events; i++) {
    await store.append(`test.Thing-${i % 7}`, [
      { id: randomUUID(), type: 'Happened', data: { i }, metadata: {} },
    ]);
  }
  return { dir, database };
}

/** `source(events)` handed to `use`, and closed after it whatever happens. */
async function withSource<T>(events: number, use: (database: PGliteDatabase, dir: string) => Promise<T>) {
  const { dir, database } = await source(events);
  try {
    return await use(database, dir);
  } finally {
    await database.close();
  }
}

async function save(body: Readable) {
  const file = join(folder(), 'backup.tar.gz');
  await pipeline(body, createWriteStream(file));
  return file;
}

/** A gzipped tar of `entries`, as a crafted backup would be. */
async function crafted(
  entries: {
    name: string;
    body?: string;
    type?: 'file' | 'symlink' | 'link' | 'directory';
    linkname?: string;
  }[],
) {
  const pack = tar.pack();
  for (const entry of entries) {
    pack.entry(
      {
        name: entry.name,
        type: entry.type ?? 'file',
        ...(entry.linkname ? { linkname: entry.linkname } : {}),
      },
      entry.type === 'symlink' || entry.type === 'link' || entry.type === 'directory'
        ? undefined
        : (entry.body ?? ''),
    );
  }
  pack.finalize();
  const chunks: Buffer[] = [];
  for await (const chunk of pack) chunks.push(chunk as Buffer);
  return gzipSync(Buffer.concat(chunks));
}
const headerOf = (over: Record<string, unknown> = {}) =>
  JSON.stringify({
    format: 1,
    takenAt: new Date().toISOString(),
    wardenVersion: 'test',
    migration: null,
    generatedKeyLeftOut: false,
    ...over,
  });
const trailerOf = (over: Record<string, unknown> = {}) =>
  JSON.stringify({ events: 0, position: '0', ...over });

async function bytesOf(body: Readable) {
  const chunks: Buffer[] = [];
  for await (const chunk of body) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** The whole backup of a new folder with `events` events (the folder closed after it). */
async function backupOf(events: number) {
  return withSource(events, async (database) =>
    bytesOf((await takeBackup(database, { wardenVersion: 't', generatedKey: false })).body),
  );
}

describe('backup and restore of a PGlite data folder', () => {
  it('backs up a folder while appends go on, and restores exactly what the backup says: no lock, no key', async () => {
    const sourceDir = await withSource(40, async (database, dir) => {
      const store = postgresEventStore(database);
      const backup = await takeBackup(database, { wardenVersion: '9.9.9', generatedKey: true });
      expect(backup.header).toMatchObject({ format: 1, wardenVersion: '9.9.9', generatedKeyLeftOut: true });
      expect(backup.header.migration).toMatch(/^\d{4}-/);
      // Warden goes on writing while the folder is copied: the database is not held for the copy.
      let appended = 0;
      let copying = true;
      const writer = (async () => {
        while (copying) {
          await store.append(`test.During-${appended}`, [
            { id: randomUUID(), type: 'Happened', data: {}, metadata: {} },
          ]);
          appended++;
          await new Promise((resolve) => setTimeout(resolve, 10));
        }
      })();
      const file = await save(backup.body);
      const manifest = await backup.done;
      copying = false;
      await writer;
      expect(appended).toBeGreaterThan(0);
      expect(manifest.events).toBeGreaterThanOrEqual(40);
      expect(manifest.events).toBeLessThanOrEqual(40 + appended);

      const target = join(folder(), 'restored');
      const restored = await restoreBackup(createReadStream(file), target);
      expect(restored.manifest).toEqual(manifest);
      expect(restored.files).toBeGreaterThan(100);
      const names = readdirSync(target);
      expect(names).toContain('PG_VERSION');
      expect(names).not.toContain(KEY_ENCRYPTION_KEY_FILE);
      expect(names.filter((n) => n.startsWith(LOCK_FILE) || n === 'postmaster.pid')).toEqual([]);
      const copy = await connectPGlite({ dataDir: target });
      try {
        const { rows } = await sql<{ n: number }>`select count(*)::int as n from warden_events`.execute(
          copy.db,
        );
        expect(rows[0]!.n).toBe(manifest.events);
        // It takes writes of its own.
        await postgresEventStore(copy).append('test.Restored', [
          { id: randomUUID(), type: 'Happened', data: {}, metadata: {} },
        ]);
      } finally {
        await copy.close();
      }
      return dir;
    });
    expect(existsSync(join(sourceDir, KEY_ENCRYPTION_KEY_FILE))).toBe(true);
  }, 120_000);

  it('one backup at a time; a body left unread halfway still ends it, so the next one can start', async () => {
    await withSource(1, async (database) => {
      const first = await takeBackup(database, { wardenVersion: 't', generatedKey: false });
      await expect(takeBackup(database, { wardenVersion: 't', generatedKey: false })).rejects.toThrow(
        'already being taken',
      );
      first.body.destroy();
      await first.done.catch(() => {});
      const second = await takeBackup(database, { wardenVersion: 't', generatedKey: false });
      await bytesOf(second.body);
      expect((await second.done).events).toBe(1);
    });
  }, 60_000);

  it('fails, and ends the backup, when the WAL since its start is recycled during the copy', async () => {
    await withSource(1, async (database) => {
      const backup = await takeBackup(database, { wardenVersion: 't', generatedKey: false });
      // What 1 GB of writes would do on PGlite: checkpoints after the start's segment is left behind.
      for (let i = 0; i < 4; i++) {
        await sql`select pg_switch_wal()`.execute(database.db);
        await postgresEventStore(database).append(`test.Recycled-${i}`, [
          { id: randomUUID(), type: 'Happened', data: {}, metadata: {} },
        ]);
        await sql`checkpoint`.execute(database.db);
      }
      await expect(bytesOf(backup.body)).rejects.toThrow('recycled during the copy');
      await expect(backup.done).rejects.toThrow('take it again');
      const again = await takeBackup(database, { wardenVersion: 't', generatedKey: false });
      await bytesOf(again.body);
      expect((await again.done).events).toBe(5);
    });
  }, 60_000);

  it('refuses a folder that is not empty, and one a running Warden holds', async () => {
    const file = await save(Readable.from([await backupOf(1)]));
    const full = folder();
    writeFileSync(join(full, 'something'), 'mine');
    await expect(restoreBackup(createReadStream(file), full)).rejects.toThrow(/is not empty \(something\)/);
    expect(readdirSync(full)).toEqual(['something']);

    const busy = folder();
    const holder = await connectPGlite({ dataDir: busy });
    try {
      await expect(restoreBackup(createReadStream(file), busy)).rejects.toBeInstanceOf(DataFolderInUseError);
    } finally {
      await holder.close();
    }
  }, 60_000);

  it('refuses crafted archives and leaves the folder empty: escapes, links, planted secrets, no header, damage', async () => {
    const header = { name: BACKUP_HEADER, body: headerOf() };
    const end = { name: BACKUP_TRAILER, body: trailerOf() };
    const cases: [string, Buffer, RegExp][] = [
      [
        'a path out of the folder',
        await crafted([header, { name: 'base/x', body: 'x' }, { name: '../escaped', body: 'x' }, end]),
        /outside the data folder/,
      ],
      [
        'an absolute path through ..',
        await crafted([header, { name: '/base/../../escaped', body: 'x' }, end]),
        /outside the data folder/,
      ],
      [
        'a symbolic link',
        await crafted([header, { name: 'base/link', type: 'symlink', linkname: '/etc/passwd' }, end]),
        /is a symlink, not a file/,
      ],
      [
        'a hard link',
        await crafted([header, { name: 'base/hard', type: 'link', linkname: '/etc/passwd' }, end]),
        /is a link, not a file/,
      ],
      ['a planted lock', await crafted([header, { name: LOCK_FILE, body: '{"pid":1}' }, end]), /refused/],
      [
        'a planted key',
        await crafted([header, { name: KEY_ENCRYPTION_KEY_FILE, body: 'k' }, end]),
        /refused/,
      ],
      [
        'a file after the end',
        await crafted([header, end, { name: 'base/late', body: 'x' }]),
        /after the backup's end/,
      ],
      [
        'no header first',
        await crafted([{ name: 'PG_VERSION', body: '18' }, header, end]),
        /does not open with its header/,
      ],
      [
        'a header of another format',
        await crafted([{ name: BACKUP_HEADER, body: headerOf({ format: 2 }) }, end]),
        /its header's format/,
      ],
      ['no end', await crafted([header, { name: 'PG_VERSION', body: '18' }]), /cut short/],
      ['an empty archive', await crafted([]), /it is empty/],
      ['not gzip at all', Buffer.from('PK\u0003\u0004 a zip, say'), /damaged/],
      [
        'a truncated backup',
        (await crafted([header, { name: 'base/big', body: 'y'.repeat(100_000) }, end])).subarray(0, 300),
        /damaged/,
      ],
    ];
    for (const [label, bytes, message] of cases) {
      const target = folder();
      const error = await restoreBackup(Readable.from([bytes]), target).then(
        () => null,
        (e: unknown) => e,
      );
      expect(error, label).toBeInstanceOf(RestoreError);
      expect((error as Error).message, label).toMatch(message);
      expect(readdirSync(target), label).toEqual([]);
    }
    expect(existsSync(join(tmpdir(), 'escaped'))).toBe(false);
  }, 60_000);

  it('refuses a backup whose database does not hold what its end says', async () => {
    const bytes = await backupOf(3);
    // The same files behind an end that claims more events than they hold.
    const extract = tar.extract();
    const pack = tar.pack();
    extract.on('entry', (header, stream, next) => {
      if (header.name === BACKUP_TRAILER) {
        stream.resume();
        pack.entry({ name: BACKUP_TRAILER }, trailerOf({ events: 4 }), next);
        return;
      }
      stream.pipe(pack.entry(header, next));
    });
    const collected = bytesOf(pack as unknown as Readable);
    await pipeline(Readable.from([bytes]), createGunzip(), extract);
    pack.finalize();
    const target = folder();
    await expect(restoreBackup(Readable.from([gzipSync(await collected)]), target)).rejects.toThrow(
      /holds 3 events up to \d+; the backup says 4 up to 0/,
    );
    expect(readdirSync(target)).toEqual([]);
  }, 60_000);
});
