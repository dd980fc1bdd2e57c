import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { strToU8, zipSync } from 'fflate';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { osvCommand } from '../../src/cli/osv.ts';
import { ADVISORY_FEED_STREAM } from '../../src/commands/packages/index.ts';
import { type TestApp, testApp } from '../support/app.ts';
import { freshPGlite } from '../support/databases.ts';
import { forgedSizeZip } from '../support/osv-archives.ts';

/** A stream that keeps what is written; `isTTY` as a terminal or a pipe would report it. */
function capture(isTTY: boolean) {
  const chunks: string[] = [];
  const stream = Object.assign(
    new Writable({
      write(chunk, _encoding, done) {
        chunks.push(String(chunk));
        done();
      },
    }),
    { isTTY, columns: 120 },
  );
  return { stream, text: () => chunks.join('') };
}

const record = (i: number) =>
  JSON.stringify({
    id: `GHSA-cli0-${String(i).padStart(4, '0')}`,
    modified: '2026-01-01T00:00:00Z',
    affected: [{ package: { ecosystem: 'npm', name: `cli-pkg-${i}` }, versions: ['1.0.0'] }],
  });

describe('warden osv import (streamed, with progress)', () => {
  let t: TestApp;
  const folder = mkdtempSync(join(tmpdir(), 'warden-osv-cli-'));
  const zipWith = (name: string, files: Record<string, string>) => {
    const path = join(folder, name);
    writeFileSync(path, zipSync(Object.fromEntries(Object.entries(files).map(([k, v]) => [k, strToU8(v)]))));
    return path;
  };

  beforeAll(async () => {
    t = await testApp(freshPGlite);
  });
  afterAll(async () => {
    await t?.dispose();
    rmSync(folder, { recursive: true, force: true });
  });

  it('writes JSON progress lines when stderr is not a terminal', async () => {
    const files = Object.fromEntries(Array.from({ length: 1500 }, (_, i) => [`r/${i}.json`, record(i)]));
    const path = zipWith('many.zip', files);
    const out = capture(false);
    const progress = capture(false);
    const code = await osvCommand(['import', path], {
      db: t.database.db as never,
      store: t.store,
      output: out.stream,
      progress: progress.stream,
    });
    expect(code).toBe(0);
    const lines = progress
      .text()
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(lines).toEqual([
      { osv_import: { done: 0, total: 1500 } },
      { osv_import: { done: 1000, total: 1500 } },
      { osv_import: { done: 1500, total: 1500 } },
    ]);
    expect(out.text()).toContain('advisories  1500 npm records read, 1500 new or changed');
  });

  it('draws a progress bar when stderr is a terminal', async () => {
    const path = zipWith('few.zip', { 'a.json': record(9001), 'b.json': record(9002) });
    const progress = capture(true);
    const out = capture(false);
    expect(
      await osvCommand(['import', path], {
        db: t.database.db as never,
        store: t.store,
        output: out.stream,
        progress: progress.stream,
      }),
    ).toBe(0);
    expect(progress.text()).toContain('osv import [');
    expect(progress.text()).toContain('2/2 records');
    expect(progress.text()).not.toContain('{"osv_import"');
  });

  it('refuses a hostile archive with exit code 1 and imports nothing from it', async () => {
    const path = zipWith('evil.zip', { 'ok.json': record(9100), '../../evil.json': record(9101) });
    const out = capture(false);
    const errors = capture(false);
    const code = await osvCommand(['import', path], {
      db: t.database.db as never,
      store: t.store,
      output: out.stream,
      errors: errors.stream,
      progress: capture(false).stream,
    });
    expect(code).toBe(1);
    expect(errors.text()).toContain('refused     invalid relative path');
    const stored = await (
      t.database.db as never as import('kysely').Kysely<{ warden_advisories: { id: string } }>
    )
      .selectFrom('warden_advisories')
      .select('id')
      .where('id', '=', 'GHSA-cli0-9100')
      .execute();
    expect(stored).toEqual([]);
  });

  it('an archive broken midway keeps and records what it stored before, so monitoring sees it; exit code 1', async () => {
    const path = join(folder, 'forged.zip');
    writeFileSync(path, forgedSizeZip({ 'first.json': record(9200) }, 'lie.json', 2 * 1024 * 1024));
    const events = (await t.store.readStream(ADVISORY_FEED_STREAM)).length;
    const errors = capture(false);
    const code = await osvCommand(['import', path], {
      db: t.database.db as never,
      store: t.store,
      output: capture(false).stream,
      errors: errors.stream,
      progress: capture(false).stream,
      maxEntryBytes: 1024 * 1024,
    });
    expect(code).toBe(1);
    expect(errors.text()).toContain('refused     lie.json');
    const feed = await t.store.readStream(ADVISORY_FEED_STREAM);
    expect(feed).toHaveLength(events + 1);
    expect(feed.at(-1)!.data).toMatchObject({ total: 1, changed: 1 });
  });
});
