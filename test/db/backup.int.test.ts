import { randomUUID } from 'node:crypto';
import {
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
import {
  BACKUP_MANIFEST,
  type BackupManifest,
  RestoreError,
  restoreBackup,
  takeBackup,
} from '../../src/db/backup.ts';
import { DataFolderInUseError, LOCK_FILE } from '../../src/db/data-folder-lock.ts';
import { connectPGlite } from '../../src/db/database.ts';
import { migrate } from '../../src/db/migrate.ts';
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

/** A migrated PGlite folder with `events` events and a generated key-encryption key beside them. */
async function source(events: number) {
  const dir = folder();
  writeFileSync(join(dir, KEY_ENCRYPTION_KEY_FILE), 'a-secret-that-stays-home\n');
  const database = await connectPGlite({ dataDir: dir });
  await migrate(database);
  const store = postgresEventStore(database);
  for (let i = 0; i < events; i++) {
    await store.append(`test.Thing-${i % 7}`, [
      { id: randomUUID(), type: 'Happened', data: { i }, metadata: {} },
    ]);
  }
  return { dir, database };
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
const manifestOf = (over: Partial<BackupManifest> = {}) =>
  JSON.stringify({
    format: 1,
    takenAt: new Date().toISOString(),
    wardenVersion: 'test',
    events: 0,
    position: '0',
    migration: null,
    generatedKeyLeftOut: false,
    ...over,
  });

describe('backup and restore of a PGlite data folder', () => {
  it('backs up a folder in use and restores it into an empty one: the same events, no lock, no key', async () => {
    const { dir, database } = await source(40);
    try {
      const backup = await takeBackup(database, { wardenVersion: '9.9.9', generatedKey: true });
      expect(backup.manifest).toMatchObject({
        format: 1,
        events: 40,
        wardenVersion: '9.9.9',
        generatedKeyLeftOut: true,
      });
      expect(backup.manifest.migration).toMatch(/^\d{4}-/);
      // The source keeps serving while and after the backup is read.
      const file = await save(backup.body);
      await postgresEventStore(database).append('test.Thing-after', [
        { id: randomUUID(), type: 'Happened', data: {}, metadata: {} },
      ]);
      const target = join(folder(), 'restored');
      const restored = await restoreBackup(createReadStream(file), target);
      expect(restored.manifest).toEqual(backup.manifest);
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
        expect(rows[0]!.n).toBe(40);
      } finally {
        await copy.close();
      }
    } finally {
      await database.close();
    }
    expect(existsSync(join(dir, KEY_ENCRYPTION_KEY_FILE))).toBe(true);
  }, 60_000);

  it('refuses a folder that is not empty, and one a running Warden holds', async () => {
    const { database } = await source(1);
    let file: string;
    try {
      file = await save((await takeBackup(database, { wardenVersion: 't', generatedKey: false })).body);
    } finally {
      await database.close();
    }
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

  it('refuses crafted archives and leaves the folder empty: escapes, links, planted secrets, no manifest, damage', async () => {
    const manifest = { name: BACKUP_MANIFEST, body: manifestOf() };
    const cases: [string, Buffer, RegExp][] = [
      [
        'a path out of the folder',
        await crafted([manifest, { name: 'base/x', body: 'x' }, { name: '../escaped', body: 'x' }]),
        /outside the data folder/,
      ],
      [
        'an absolute path through ..',
        await crafted([manifest, { name: '/base/../../escaped', body: 'x' }]),
        /outside the data folder/,
      ],
      [
        'a symbolic link',
        await crafted([manifest, { name: 'base/link', type: 'symlink', linkname: '/etc/passwd' }]),
        /is a symlink, not a file/,
      ],
      [
        'a hard link',
        await crafted([manifest, { name: 'base/hard', type: 'link', linkname: '/etc/passwd' }]),
        /is a link, not a file/,
      ],
      ['a planted lock', await crafted([manifest, { name: LOCK_FILE, body: '{"pid":1}' }]), /refused/],
      ['a planted key', await crafted([manifest, { name: KEY_ENCRYPTION_KEY_FILE, body: 'k' }]), /refused/],
      [
        'no manifest first',
        await crafted([{ name: 'PG_VERSION', body: '18' }, manifest]),
        /does not open with its manifest/,
      ],
      [
        'a manifest of another format',
        await crafted([{ name: BACKUP_MANIFEST, body: manifestOf({ format: 2 } as never) }]),
        /Warden can restore/,
      ],
      ['an empty archive', await crafted([]), /it is empty/],
      ['not gzip at all', Buffer.from('PK\u0003\u0004 a zip, say'), /damaged/],
      [
        'a truncated backup',
        (await crafted([manifest, { name: 'base/big', body: 'y'.repeat(100_000) }])).subarray(0, 300),
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

  it('refuses a backup whose database does not hold what its manifest says', async () => {
    const { database } = await source(3);
    let bytes: Buffer;
    try {
      const backup = await takeBackup(database, { wardenVersion: 't', generatedKey: false });
      const chunks: Buffer[] = [];
      for await (const chunk of backup.body) chunks.push(chunk as Buffer);
      bytes = Buffer.concat(chunks);
    } finally {
      await database.close();
    }
    // The same files behind a manifest that claims more events than they hold.
    const extract = tar.extract();
    const pack = tar.pack();
    extract.on('entry', (header, stream, next) => {
      if (header.name === BACKUP_MANIFEST) {
        stream.resume();
        pack.entry(
          header.name === BACKUP_MANIFEST ? { name: BACKUP_MANIFEST } : header,
          manifestOf({ events: 4 }),
          next,
        );
        return;
      }
      stream.pipe(pack.entry(header, next));
    });
    const chunks: Buffer[] = [];
    const collected = (async () => {
      for await (const chunk of pack) chunks.push(chunk as Buffer);
    })();
    await pipeline(Readable.from([bytes]), createGunzip(), extract);
    pack.finalize();
    await collected;
    const target = folder();
    await expect(restoreBackup(Readable.from([gzipSync(Buffer.concat(chunks))]), target)).rejects.toThrow(
      /holds 3 events up to \d+; the manifest says 4 up to 0/,
    );
    expect(readdirSync(target)).toEqual([]);
  }, 60_000);
});
