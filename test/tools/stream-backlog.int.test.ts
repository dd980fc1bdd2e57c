import type { Kysely } from 'kysely';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import WebSocket from 'ws';
import { BACKLOG_PAGE, frameStream } from '../../src/http/tools/stream.ts';
import { type HttpServer, listen } from '../../src/runtime/index.ts';
import {
  appendFrames,
  type Frame,
  type StreamHub,
  streamHub,
  type ToolOutputTables,
} from '../../src/tools/index.ts';
import { type LooseJson, type SignedInUser, type TestApp, testApp } from '../support/app.ts';
import { databaseKinds } from '../support/postgres.ts';
import { execute, toolTenant } from './support.ts';

const FRAMES = 1000;
const LINE = `${'x'.repeat(1000)}\n`;

/**
 * A stream's backlog is read as its client takes it. A finished run keeps up to its output cap (4 MiB
 * for nmap); when every stream read its whole backlog into memory at once, a caller who opened many
 * streams of one and read none of them held that much per stream in the server, bounded only by the
 * rate limit. Now a client that reads nothing holds about a page.
 */
for (const kind of databaseKinds) {
  describe(`a stream's backlog, read as the client takes it (${kind.name})`, () => {
    let t: TestApp;
    let operator: SignedInUser;
    let server: HttpServer;
    let runId: string;
    beforeAll(async () => {
      // No tool worker: the run stays queued, and its output is written here as a worker's would be.
      t = await testApp(kind.fresh);
      ({ operator } = await toolTenant(t));
      const res = await execute(t, operator, 'hash-identify', { hash: 'abc' });
      runId = ((await res.json()) as LooseJson).id;
      await sql`
        insert into warden_tool_output (execution_id, seq, kind, data)
        select ${runId}::uuid, n, 'stdout', ${LINE} from generate_series(1, ${FRAMES}) as n`.execute(
        t.database.db,
      );
      await sql`
        insert into warden_tool_output (execution_id, seq, kind, data)
        values (${runId}::uuid, ${FRAMES + 1}, 'status', ${JSON.stringify({ status: 'completed' })})`.execute(
        t.database.db,
      );
      server = await listen(t.app.fetch, { hostname: '127.0.0.1', port: 0 });
    });
    afterAll(async () => {
      await server?.close(1000);
      await t?.dispose();
    });
    const db = () => t.database.db as unknown as Kysely<ToolOutputTables>;

    it('hands an SSE stream nobody reads one page of a finished run, then everything in order as it is read', async () => {
      const hub = streamHub({ db: db(), pollMs: 20 });
      let handed = 0;
      // The hub as the route's, counting every frame handed to the stream, from a page or live.
      const count = (subscriber: { onFrames(frames: readonly Frame[]): void }) => ({
        onFrames: (frames: readonly Frame[]) => {
          handed += frames.length;
          subscriber.onFrames(frames);
        },
      });
      const counting: StreamHub = {
        ...hub,
        follow: (id, after, subscriber, pageLimit) => hub.follow(id, after, count(subscriber), pageLimit),
        subscribe: (id, after, subscriber) => hub.subscribe(id, after, count(subscriber)),
      };
      try {
        const body = frameStream(counting, runId, 0);
        await vi.waitFor(() => expect(handed).toBeGreaterThan(0), { timeout: 5_000 });
        // Nothing reads: a few turns of the event loop later, still one page in this process.
        for (let i = 0; i < 5; i++) await new Promise((resolve) => setTimeout(resolve, 20));
        expect(handed).toBe(BACKLOG_PAGE);

        const text = await new Response(body).text();
        const ids = [...text.matchAll(/^id: (\d+)$/gm)].map((m) => Number(m[1]));
        expect(ids).toEqual(Array.from({ length: FRAMES + 1 }, (_, i) => i + 1));
        expect(
          text
            .trimEnd()
            .endsWith(
              `data: ${JSON.stringify({ seq: FRAMES + 1, kind: 'status', data: JSON.stringify({ status: 'completed' }) })}`,
            ),
        ).toBe(true);
        expect(handed).toBe(FRAMES + 1);
      } finally {
        await hub.close();
      }
    });

    it('opens a stream of a run under way with one read of its output: its backlog and the subscription share it', async () => {
      const res = await execute(t, operator, 'hash-identify', { hash: 'def' });
      const going = ((await res.json()) as LooseJson).id as string;
      await appendFrames(db(), going, [
        { kind: 'stdout', data: 'one\n' },
        { kind: 'stdout', data: 'two\n' },
      ]);
      // The hub's reads of a run's stored frames, counted on its own handle of the database.
      let reads = 0;
      const counted = db().withPlugin({
        transformQuery: (args) => {
          const node = args.node as { kind: string; sqlFragments?: readonly string[] };
          if (node.kind === 'RawNode' && node.sqlFragments?.join('').includes('warden_tool_output_read'))
            reads++;
          return args.node;
        },
        transformResult: async (args) => args.result,
      });
      const hub = streamHub({ db: counted, pollMs: 3_600_000 });
      try {
        const reader = frameStream(hub, going, 0).getReader();
        const decoder = new TextDecoder();
        let text = '';
        while (!text.includes('id: 2\n')) text += decoder.decode((await reader.read()).value);
        // Live now: the final frame comes from the writer, not from another read.
        await appendFrames(db(), going, [{ kind: 'status', data: JSON.stringify({ status: 'completed' }) }]);
        for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read()) {
          text += decoder.decode(chunk.value);
        }
        expect([...text.matchAll(/^id: (\d+)$/gm)].map((m) => Number(m[1]))).toEqual([1, 2, 3]);
        expect(reads).toBe(1);
      } finally {
        await hub.close();
      }
    });

    it('sends a WebSocket client a backlog of many pages whole and in order, then closes with 1000', async () => {
      const url = `ws://127.0.0.1:${server.port}/v1/executions/${runId}/stream?after=10`;
      const received = await new Promise<{ seqs: number[]; code: number }>((resolve, reject) => {
        const seqs: number[] = [];
        const socket = new WebSocket(url, {
          headers: { authorization: `Bearer ${operator.token}`, 'x-tenant': operator.tenantSlug },
        });
        socket.on('message', (data) => seqs.push((JSON.parse(String(data)) as Frame).seq));
        socket.on('close', (code) => resolve({ seqs, code }));
        socket.on('error', reject);
      });
      expect(received.code).toBe(1000);
      expect(received.seqs).toEqual(Array.from({ length: FRAMES + 1 - 10 }, (_, i) => i + 11));
    });
  });
}
