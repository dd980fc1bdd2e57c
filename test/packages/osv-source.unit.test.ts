import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { strToU8, zipSync } from 'fflate';
import { afterAll, describe, expect, it } from 'vitest';
import { type OsvItem, type OsvProgress, readOsvSource } from '../../src/packages/osv/source.ts';
import { forgedSizeZip } from '../support/osv-archives.ts';

const folder = mkdtempSync(join(tmpdir(), 'warden-osv-source-'));
afterAll(() => rmSync(folder, { recursive: true, force: true }));

const record = (id: string) =>
  JSON.stringify({
    id,
    modified: '2026-01-01T00:00:00Z',
    affected: [{ package: { ecosystem: 'npm', name: 'pkg' }, versions: ['1.0.0'] }],
  });

function zipFile(name: string, files: Record<string, Uint8Array | string>): string {
  const path = join(folder, name);
  writeFileSync(
    path,
    zipSync(
      Object.fromEntries(
        Object.entries(files).map(([k, v]) => [k, typeof v === 'string' ? strToU8(v) : v] as const),
      ),
    ),
  );
  return path;
}

async function readAll(path: string, options: Parameters<typeof readOsvSource>[1] = {}) {
  const items: OsvItem[] = [];
  for await (const item of readOsvSource(path, options)) items.push(item);
  return items;
}

describe('OSV zip source (streamed with yauzl)', () => {
  it('yields each record of a zip, reports a bad file without stopping, and counts progress against the directory', async () => {
    const path = zipFile('all.zip', {
      'GHSA-aaaa.json': record('GHSA-aaaa'),
      'README.txt': 'not a record',
      'nested/GHSA-bbbb.json': record('GHSA-bbbb'),
      'broken.json': '{ nope',
    });
    const progress: OsvProgress[] = [];
    const items = await readAll(path, { onProgress: (p) => progress.push(p) });
    expect(items.filter((i) => i.ok).map((i) => (i.ok ? i.record.id : ''))).toEqual([
      'GHSA-aaaa',
      'GHSA-bbbb',
    ]);
    expect(items.filter((i) => !i.ok)).toEqual([
      expect.objectContaining({ file: 'broken.json', error: expect.stringContaining('not JSON') }),
    ]);
    expect(progress[0]).toEqual({ done: 0, total: 3 });
    expect(progress.at(-1)).toEqual({ done: 3, total: 3 });
  });

  it('refuses an archive with an entry larger than the cap before yielding any record (a zip bomb)', async () => {
    const path = zipFile('bomb.zip', {
      'GHSA-first.json': record('GHSA-first'),
      'GHSA-bomb.json': new Uint8Array(20 * 1024 * 1024).fill(32),
    });
    const items: OsvItem[] = [];
    await expect(async () => {
      for await (const item of readOsvSource(path, { maxEntryBytes: 1024 * 1024 })) items.push(item);
    }).rejects.toMatchObject({ code: 'ERR_OSV_ARCHIVE', message: expect.stringContaining('GHSA-bomb.json') });
    expect(items).toEqual([]);
  });

  it('stops at an entry that inflates to more than its directory says (a forged size), after the records before it', async () => {
    const bytes = forgedSizeZip(
      { 'GHSA-before.json': record('GHSA-before') },
      'GHSA-lie.json',
      4 * 1024 * 1024,
    );
    const path = join(folder, 'forged.zip');
    writeFileSync(path, bytes);
    const items: OsvItem[] = [];
    await expect(async () => {
      for await (const item of readOsvSource(path, { maxEntryBytes: 1024 * 1024 })) items.push(item);
    }).rejects.toMatchObject({ code: 'ERR_OSV_ARCHIVE', message: expect.stringContaining('GHSA-lie.json') });
    expect(items.map((i) => (i.ok ? i.record.id : i.file))).toEqual(['GHSA-before']);
  });

  it('refuses an entry name that leaves the archive, and a file that is no zip', async () => {
    const traversal = zipFile('traversal.zip', {
      'GHSA-ok.json': record('GHSA-ok'),
      '../../etc/GHSA-evil.json': record('GHSA-evil'),
    });
    await expect(readAll(traversal)).rejects.toMatchObject({
      code: 'ERR_OSV_ARCHIVE',
      message: expect.stringContaining('invalid relative path'),
    });
    const notZip = join(folder, 'not.zip');
    writeFileSync(notZip, '<html>maintenance</html>');
    await expect(readAll(notZip)).rejects.toMatchObject({
      code: 'ERR_OSV_ARCHIVE',
      message: expect.stringContaining('not a zip archive'),
    });
  });

  it('reads a folder of records the same way', async () => {
    const dir = mkdtempSync(join(folder, 'dir-'));
    writeFileSync(join(dir, 'GHSA-cccc.json'), record('GHSA-cccc'));
    const progress: OsvProgress[] = [];
    const items = await readAll(dir, { onProgress: (p) => progress.push(p) });
    expect(items).toEqual([expect.objectContaining({ ok: true })]);
    expect(progress.at(-1)).toEqual({ done: 1, total: 1 });
  });
});
