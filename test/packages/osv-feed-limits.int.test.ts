import { createServer, type Server } from 'node:http';
import { strToU8, zipSync } from 'fflate';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { syncOsvFeed } from '../../src/packages/osv/feed.ts';
import { type TestApp, testApp } from '../support/app.ts';
import { freshPGlite } from '../support/databases.ts';

/** A feed that misbehaves on purpose: a chunked body with no length, or one that never finishes. */
async function misbehavingFeed() {
  const authorizations: (string | undefined)[] = [];
  const server: Server = createServer((req, res) => {
    authorizations.push(req.headers.authorization);
    if (req.url === '/chunked.zip') {
      res.writeHead(200, { 'content-type': 'application/zip' });
      for (let i = 0; i < 20; i++) res.write(new Uint8Array(1024).fill(65));
      res.end();
      return;
    }
    if (req.url === '/stalled.zip') {
      res.writeHead(200, { 'content-type': 'application/zip' });
      res.write(new Uint8Array(10));
      return; // never ends
    }
    const body = zipSync({
      'GHSA-limi-0001.json': strToU8(
        JSON.stringify({
          id: 'GHSA-limi-0001',
          modified: '2026-01-01T00:00:00Z',
          affected: [{ package: { ecosystem: 'npm', name: 'limits-pkg' }, versions: ['1.0.0'] }],
        }),
      ),
    });
    res.writeHead(200, { 'content-type': 'application/zip', 'content-length': body.length });
    res.end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: (path: string, userInfo = '') =>
      `http://${userInfo}127.0.0.1:${(server.address() as { port: number }).port}${path}`,
    authorizations,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

describe('OSV feed download limits', () => {
  let t: TestApp;
  let feed: Awaited<ReturnType<typeof misbehavingFeed>>;
  const sync = (url: string, limits: { timeoutMs?: number; maxDownloadBytes?: number } = {}) =>
    syncOsvFeed({
      db: t.database.db as never,
      store: t.store,
      url,
      timeoutMs: limits.timeoutMs ?? 10_000,
      maxDownloadBytes: limits.maxDownloadBytes ?? 1024 * 1024,
      maxEntryBytes: 64 * 1024,
    });

  beforeAll(async () => {
    t = await testApp(freshPGlite);
    feed = await misbehavingFeed();
  });
  afterAll(async () => {
    await feed?.close();
    await t?.dispose();
  });

  it('abandons a download announced larger than the cap, and one that grows past it without a length', async () => {
    expect(await sync(feed.url('/all.zip'), { maxDownloadBytes: 100 })).toMatchObject({
      result: 'failed',
      error: expect.stringContaining('larger than 100 bytes'),
    });
    expect(await sync(feed.url('/chunked.zip'), { maxDownloadBytes: 8 * 1024 })).toEqual({
      result: 'failed',
      error: 'archive larger than 8192 bytes',
    });
  });

  it('abandons a feed that stops sending, and one that cannot be reached, without crashing', async () => {
    expect(await sync(feed.url('/stalled.zip'), { timeoutMs: 300 })).toEqual({
      result: 'failed',
      error: 'no complete answer within 300 ms',
    });
    expect(await sync('http://127.0.0.1:1/all.zip')).toMatchObject({
      result: 'failed',
      error: expect.stringContaining('could not be read'),
    });
  });

  it('records the failure on the feed row, and an import clears it', async () => {
    const url = feed.url('/all.zip');
    await sync(url, { maxDownloadBytes: 100 });
    const row = () =>
      (
        t.database.db as never as import('kysely').Kysely<{
          warden_advisory_feed: { url: string; last_error: string | null; synced_at: Date | null };
        }>
      )
        .selectFrom('warden_advisory_feed')
        .select(['last_error', 'synced_at'])
        .where('url', '=', url)
        .executeTakeFirstOrThrow();
    expect(await row()).toMatchObject({
      last_error: expect.stringContaining('larger than 100 bytes'),
      synced_at: null,
    });
    expect(await sync(url)).toMatchObject({ result: 'imported', import: { changed: 1, recorded: true } });
    expect(await row()).toMatchObject({ last_error: null, synced_at: expect.any(Date) });
  });

  it('sends credentials in the feed URL as Basic authentication, and keeps them out of the database', async () => {
    const url = feed.url('/all.zip', 'mirror:s%3Acret@');
    expect(await sync(url)).toMatchObject({ result: 'imported' });
    expect(feed.authorizations.at(-1)).toBe(`Basic ${Buffer.from('mirror:s:cret').toString('base64')}`);
    const rows = await (
      t.database.db as never as import('kysely').Kysely<{ warden_advisory_feed: { url: string } }>
    )
      .selectFrom('warden_advisory_feed')
      .select('url')
      .execute();
    expect(rows.map((r) => r.url)).toContain(feed.url('/all.zip'));
    expect(JSON.stringify(rows)).not.toContain('cret');
  });
});
