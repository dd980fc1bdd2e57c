import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CommandStore } from '../../src/commands/kernel/index.ts';
import {
  completeUpload,
  findUpload,
  startUpload,
  uploadsStreamId,
} from '../../src/commands/workspaces/index.ts';
import type { EventStore } from '../../src/eventstore/port.ts';
import { postgresEventStore } from '../../src/eventstore/postgres/store.ts';
import { freshPGlite, type TestDatabase } from '../support/databases.ts';

const tenantId = '00000000-0000-4000-8000-0000000000aa';
const agentId = '00000000-0000-4000-8000-0000000000bb';
const at = '2026-12-02T10:00:00.000Z';
const context = { metadata: { tenantId } };

/** The store as a process sees it, counting the events each read of the uploads stream returns. */
function counting(store: EventStore) {
  const reads: number[] = [];
  /** Runs once right after the next read of the uploads stream (another writer getting in between). */
  let between: (() => Promise<unknown>) | undefined;
  const wrapped: CommandStore = {
    readStream: async (streamId, options) => {
      const events = await store.readStream(streamId, options);
      if (streamId === uploadsStreamId(tenantId)) {
        reads.push(events.length);
        const run = between;
        between = undefined;
        await run?.();
      }
      return events;
    },
    append: (streamId, events, options) => store.append(streamId, events, options),
  };
  const take = () => reads.splice(0).reduce((a, b) => a + b, 0);
  const afterNextRead = (run: () => Promise<unknown>) => {
    between = run;
  };
  return { store: wrapped, take, afterNextRead };
}

const start = (store: CommandStore, n: number, limit: number | null = null) =>
  startUpload(
    store,
    {
      tenantId,
      uploadId: crypto.randomUUID(),
      agentId,
      fileName: `f${n}.img`,
      size: 10,
      sha256: 'a'.repeat(64),
      by: 'u',
      limit,
      at,
    },
    context,
  );

describe('the uploads stream is folded once per process, not on every request', () => {
  let db: TestDatabase;
  let store: EventStore;
  beforeAll(async () => {
    db = await freshPGlite();
    store = postgresEventStore(db.database);
  });
  afterAll(async () => db?.dispose());

  it('reads only the events since the last read: a lookup (as every PATCH does) costs no more as the stream grows', async () => {
    const one = counting(store);
    const ids: string[] = [];
    for (let n = 0; n < 40; n++) {
      const { events } = await start(one.store, n);
      ids.push((events[0]?.data as { uploadId: string } | undefined)?.uploadId ?? '');
    }
    // Each start appended one event and folded it in without reading it back.
    expect(one.take()).toBe(0);
    const perLookup: number[] = [];
    for (const id of ids.slice(0, 10)) {
      expect((await findUpload(one.store, tenantId, id))?.status).toBe('uploading');
      perLookup.push(one.take());
    }
    expect(perLookup).toEqual(Array(10).fill(0));
    await completeUpload(one.store, { tenantId, uploadId: ids[0] as string, path: '/x', at }, context);
    expect(one.take()).toBe(0);

    // Another process (its own cache) folds the stream once, then only what is new.
    const other = counting(store);
    expect((await findUpload(other.store, tenantId, ids[0] as string))?.status).toBe('completed');
    expect(other.take()).toBe(41);
    await start(one.store, 99);
    expect((await findUpload(other.store, tenantId, ids[1] as string))?.status).toBe('uploading');
    expect(other.take()).toBe(1);
  });

  it('keeps the expected-revision check: a process with a stale fold retries on the new events and still enforces the quota', async () => {
    const a = counting(store);
    const b = counting(store);
    await findUpload(a.store, tenantId, crypto.randomUUID());
    await findUpload(b.store, tenantId, crypto.randomUUID());
    a.take();
    b.take();
    // 40 unfinished uploads of 10 bytes are in flight; the limit leaves room for exactly one more.
    const limit = 41 * 10;
    // a starts one after b last read the stream: b decides on its kept fold, now stale, so its append
    // conflicts; it folds the one new event and decides again, against the quota.
    await start(a.store, 100, limit);
    await expect(start(b.store, 101, limit)).rejects.toMatchObject({ code: 'QUOTA_EXCEEDED' });
    expect(b.take()).toBe(1);
    // A process with no fold yet reads the stream, and a starts one right after that read: the same
    // conflict, the same quota check on the new event.
    const c = counting(store);
    c.afterNextRead(() => start(a.store, 102, limit + 10));
    await expect(start(c.store, 103, limit + 10)).rejects.toMatchObject({ code: 'QUOTA_EXCEEDED' });
    expect(c.take()).toBe(44); // the whole stream (43 events), then the one new event
    const events = await store.readStream(uploadsStreamId(tenantId));
    expect(events.filter((e) => e.type === 'UploadStarted')).toHaveLength(43);
  });
});
