import { createServer as createHttpServer, type Server } from 'node:http';
import { type Kysely, sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import WebSocket from 'ws';
import type { ToolJobs } from '../../src/processes/tools/index.ts';
import { type HttpServer, listen } from '../../src/runtime/index.ts';
import {
  appendFrames,
  type Frame,
  readFrames,
  streamHub,
  type ToolOutputTables,
} from '../../src/tools/index.ts';
import { type LooseJson, type SignedInUser, type TestApp, testApp } from '../support/app.ts';
import { databaseKinds } from '../support/postgres.ts';
import { execute, toolTenant, toolWorker, waitForStatus } from './support.ts';

interface SseFrame {
  id: string;
  event: string;
  frame: { seq: number; kind: string; data: string };
}

/** A real SSE client: fetch over TCP, the body read as it arrives, frames split on blank lines. */
async function readSse(
  url: string,
  headers: Record<string, string>,
  stopAfter = Number.POSITIVE_INFINITY,
): Promise<{ status: number; frames: SseFrame[] }> {
  const abort = new AbortController();
  const res = await fetch(url, { headers, signal: abort.signal });
  const frames: SseFrame[] = [];
  if (res.status !== 200 || !res.body) return { status: res.status, frames };
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += value;
      let end = buffer.indexOf('\n\n');
      while (end >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const fields = Object.fromEntries(
          block
            .split('\n')
            .filter((l) => !l.startsWith(':') && l.includes(':'))
            .map((l) => [l.slice(0, l.indexOf(':')), l.slice(l.indexOf(':') + 1).trimStart()]),
        );
        if (fields.data) {
          frames.push({ id: fields.id ?? '', event: fields.event ?? '', frame: JSON.parse(fields.data) });
        }
        if (frames.length >= stopAfter) {
          abort.abort();
          return { status: 200, frames };
        }
        end = buffer.indexOf('\n\n');
      }
    }
  } catch (error) {
    if (!abort.signal.aborted) throw error;
  }
  return { status: 200, frames };
}

/**
 * A real WebSocket client (the `ws` package, as a FastAPI client's would be): every message until
 * the server closes, with the close code; or the HTTP status when the upgrade is refused.
 */
function readSocket(
  url: string,
  headers: Record<string, string>,
): Promise<{ status: number; frames: SseFrame['frame'][]; closeCode?: number; problem?: unknown }> {
  return new Promise((resolve, reject) => {
    const frames: SseFrame['frame'][] = [];
    const socket = new WebSocket(url, { headers });
    socket.on('message', (data) => frames.push(JSON.parse(String(data))));
    socket.on('close', (code) => resolve({ status: 101, frames, closeCode: code }));
    socket.on('unexpected-response', (_request, response) =>
      resolve({ status: response.statusCode ?? 0, frames }),
    );
    socket.on('error', (error) => {
      if (!String(error.message).includes('Unexpected server response')) reject(error);
    });
  });
}

/** An HTTP server on 127.0.0.1 that answers slowly, so a header audit runs long enough to stream. */
async function headerServer(): Promise<{ url: string; close(): Promise<void> }> {
  const server: Server = createHttpServer((_req, res) => {
    res.setHeader('strict-transport-security', 'max-age=31536000');
    res.setHeader('x-content-type-options', 'nosniff');
    res.end('ok');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  return { url: `http://127.0.0.1:${port}/`, close: () => new Promise((r) => server.close(() => r())) };
}

for (const kind of databaseKinds) {
  describe(`tool output stream, quota and cap (${kind.name})`, () => {
    let t: TestApp;
    let worker: ToolJobs;
    let operator: SignedInUser;
    let base: string;
    let server: HttpServer;
    beforeAll(async () => {
      t = await testApp(kind.fresh);
      worker = toolWorker(t, { outputCapBytes: 400 });
      ({ operator } = await toolTenant(t));
      // As `warden serve` listens: the runtime's server, with its WebSocket upgrade.
      server = await listen(t.app.fetch, { hostname: '127.0.0.1', port: 0 });
      base = `http://127.0.0.1:${server.port}`;
    });
    afterAll(async () => {
      await server?.close(1000);
      await worker?.stop(1000);
      await t?.dispose();
    });
    const auth = () => ({ authorization: `Bearer ${operator.token}`, 'x-tenant': operator.tenantSlug });

    it('streams frames {seq, kind, data} over SSE to the final status; a late subscriber gets the backlog; Last-Event-ID resumes without gaps or repeats', async () => {
      const site = await headerServer();
      try {
        const res = await execute(t, operator, 'http-headers', { url: site.url });
        const id = ((await res.json()) as LooseJson).id;
        const live = await readSse(`${base}/v1/executions/${id}/stream`, auth());
        expect(live.status).toBe(200);
        const seqs = live.frames.map((f) => f.frame.seq);
        expect(seqs).toEqual(seqs.map((_, i) => i + 1));
        expect(live.frames.map((f) => f.id)).toEqual(seqs.map(String));
        const last = live.frames.at(-1)!;
        expect(last.frame.kind).toBe('status');
        expect(JSON.parse(last.frame.data).status).toBe('completed');
        expect(live.frames[0]!.frame).toMatchObject({
          kind: 'status',
          data: JSON.stringify({ status: 'running' }),
        });
        expect(live.frames.some((f) => f.frame.kind === 'stdout' && f.frame.data.includes('grade'))).toBe(
          true,
        );

        const late = await readSse(`${base}/v1/executions/${id}/stream`, auth());
        expect(late.frames.map((f) => f.frame)).toEqual(live.frames.map((f) => f.frame));
        const resumed = await readSse(`${base}/v1/executions/${id}/stream`, {
          ...auth(),
          'last-event-id': '1',
        });
        expect(resumed.frames.map((f) => f.frame.seq)).toEqual(seqs.slice(1));
        const after = await readSse(`${base}/v1/executions/${id}/stream?after=2`, auth());
        expect(after.frames.map((f) => f.frame.seq)).toEqual(seqs.slice(2));
        const done = await waitForStatus(t, operator, id);
        expect(done.result.grade).toBe('D');
      } finally {
        await site.close();
      }
    });

    it('streams the same frames over WebSocket: backlog then live, ?after= resumes, closed with 1000 after the final status; refused before the upgrade', async () => {
      const site = await headerServer();
      try {
        const res = await execute(t, operator, 'http-headers', { url: site.url });
        const id = ((await res.json()) as LooseJson).id;
        const ws = `${base.replace('http', 'ws')}/v1/executions/${id}/stream`;
        const live = await readSocket(ws, auth());
        expect(live.closeCode).toBe(1000);
        const seqs = live.frames.map((f) => f.seq);
        expect(seqs).toEqual(seqs.map((_, i) => i + 1));
        expect(live.frames.at(-1)).toMatchObject({ kind: 'status' });
        expect(JSON.parse(live.frames.at(-1)!.data).status).toBe('completed');
        // The SSE stream of the same run carries exactly these frames.
        const sse = await readSse(`${base}/v1/executions/${id}/stream`, auth());
        expect(sse.frames.map((f) => f.frame)).toEqual(live.frames);
        const resumed = await readSocket(`${ws}?after=2`, auth());
        expect(resumed.frames.map((f) => f.seq)).toEqual(seqs.slice(2));

        // Refused as over HTTP, before any socket exists: no token, another tenant, a bad ?after=.
        expect((await readSocket(ws, { 'x-tenant': operator.tenantSlug })).status).toBe(401);
        const { operator: stranger } = await toolTenant(t);
        const foreign = await readSocket(ws, {
          authorization: `Bearer ${stranger.token}`,
          'x-tenant': stranger.tenantSlug,
        });
        expect(foreign).toMatchObject({ status: 404, frames: [] });
        expect((await readSocket(`${ws}?after=x`, auth())).status).toBe(400);
      } finally {
        await site.close();
      }
    });

    it('caps a run’s output: past the cap it is truncated, marked, and the result still parsed', async () => {
      const open = await headerServer();
      const port = Number(new URL(open.url).port);
      try {
        const res = await execute(t, operator, 'nmap', { host: '127.0.0.1', ports: String(port) });
        const id = ((await res.json()) as LooseJson).id;
        const done = await waitForStatus(t, operator, id);
        expect(done.status).toBe('completed');
        expect(done.output_truncated).toBe(true);
        expect(done.output_bytes).toBeLessThanOrEqual(400);
        expect(done.result.open).toEqual([port]);
        const text = await (
          await t.request(`/v1/executions/${id}/output`, {
            token: operator.token,
            tenant: operator.tenantSlug,
          })
        ).text();
        expect(new TextEncoder().encode(text).length).toBeLessThanOrEqual(400);
        const stream = await readSse(`${base}/v1/executions/${id}/stream`, auth());
        expect(
          stream.frames.some((f) => f.frame.kind === 'status' && f.frame.data.includes('"truncated":true')),
        ).toBe(true);
      } finally {
        await open.close();
      }
    });

    it('numbers the frames of writers appending to one run at once 1..n, each frame once and in each writer’s order', async () => {
      // The run's output and a cancel's status frame can be written at the same moment, each append
      // one statement taking the next seqs: the loser of a seq waits for the winner and retries after it.
      const db = t.database.db as unknown as Kysely<ToolOutputTables>;
      const executionId = crypto.randomUUID();
      const writers = 3;
      const appends = 12;
      await Promise.all(
        Array.from({ length: writers }, async (_, w) => {
          for (let i = 0; i < appends; i++) {
            await appendFrames(db, executionId, [
              { kind: 'stdout', data: `w${w} a${i} first\n` },
              { kind: 'stderr', data: `w${w} a${i} second\n` },
            ]);
          }
        }),
      );
      const frames = await readFrames(db, executionId, 0, 10_000);
      expect(frames.map((f) => f.seq)).toEqual(frames.map((_, i) => i + 1));
      expect(frames).toHaveLength(writers * appends * 2);
      for (let w = 0; w < writers; w++) {
        const own = frames.filter((f) => f.data.startsWith(`w${w} `)).map((f) => f.data);
        expect(own).toEqual(
          Array.from({ length: appends }, (_, i) => [`w${w} a${i} first\n`, `w${w} a${i} second\n`]).flat(),
        );
      }
      // A frame's pair stays together: an append is one statement, never interleaved with another.
      for (let i = 0; i < frames.length; i += 2) {
        expect(frames[i + 1]!.data).toBe(frames[i]!.data.replace('first', 'second'));
      }
    });

    it('hands the frames this process appends to its streams as the append commits (no NOTIFY, no read); frames written elsewhere in between are read, neither skipped nor repeated', async () => {
      const db = t.database.db as unknown as Kysely<ToolOutputTables>;
      // No LISTEN and a poll an hour away: only the in-process hand-over can deliver in time.
      const hub = streamHub({ db, pollMs: 3_600_000 });
      const executionId = crypto.randomUUID();
      const got: Frame[] = [];
      const off = await hub.subscribe(executionId, 0, { onFrames: (frames) => got.push(...frames) });
      try {
        await appendFrames(db, executionId, [{ kind: 'stdout', data: 'first\n' }]);
        expect(got).toEqual([{ seq: 1, kind: 'stdout', data: 'first\n' }]);
        // Another process's append (no hand-over here), then ours: the hub sees the gap and reads it.
        await db
          .insertInto('warden_tool_output')
          .values({ execution_id: executionId, seq: 2, kind: 'stderr', data: 'elsewhere\n' })
          .execute();
        await appendFrames(db, executionId, [
          { kind: 'stdout', data: 'third\n' },
          { kind: 'status', data: '{"status":"completed"}' },
        ]);
        await vi.waitFor(() => expect(got.map((f) => f.seq)).toEqual([1, 2, 3, 4]), { timeout: 5_000 });
        expect(got.map((f) => f.data)).toEqual([
          'first\n',
          'elsewhere\n',
          'third\n',
          '{"status":"completed"}',
        ]);
      } finally {
        off();
        await hub.close();
      }
      // Unsubscribed: later appends reach nobody here.
      await appendFrames(db, executionId, [{ kind: 'stdout', data: 'after\n' }]);
      expect(got).toHaveLength(4);
    });

    // PGlite hands a NOTIFY out inside the query that sent it, before that append answers and hands
    // its frames over here. On a server the notice comes over another connection, before or after.
    it.runIf(kind.name === 'pglite')(
      'a notice of its own append, heard while that append is still answering, costs no read',
      async () => {
        const db = t.database.db as unknown as Kysely<ToolOutputTables>;
        // The hub's reads of new frames (the backlog read is another statement).
        let reads = 0;
        const counted = db.withPlugin({
          transformQuery: (args) => {
            const node = args.node as { kind: string; sqlFragments?: readonly string[] };
            if (node.kind === 'RawNode' && node.sqlFragments?.[0]?.includes('warden_tool_output_watched'))
              reads++;
            return args.node;
          },
          transformResult: async (args) => args.result,
        });
        const hub = streamHub({
          db: counted,
          pollMs: 3_600_000,
          listen: t.database.listen,
          schema: t.database.schema,
        });
        const executionId = crypto.randomUUID();
        const got: Frame[] = [];
        const off = await hub.subscribe(executionId, 0, { onFrames: (frames) => got.push(...frames) });
        try {
          await vi.waitFor(() => expect(reads).toBe(1)); // the read a new subscriber starts
          await appendFrames(db, executionId, [{ kind: 'stdout', data: 'mine\n' }]);
          await new Promise((resolve) => setTimeout(resolve, 100));
          expect(got.map((f) => f.data)).toEqual(['mine\n']);
          expect(reads).toBe(1);
          // Another writer's frame (no hand-over here): its notice brings it, with one read.
          await db
            .insertInto('warden_tool_output')
            .values({ execution_id: executionId, seq: 2, kind: 'stdout', data: 'elsewhere\n' })
            .execute();
          await sql`select pg_notify('warden_tool_output', ${`${t.database.schema}:${executionId}:2`})`.execute(
            db,
          );
          await vi.waitFor(() => expect(got.map((f) => f.data)).toEqual(['mine\n', 'elsewhere\n']));
          expect(reads).toBe(2);
        } finally {
          off();
          await hub.close();
        }
      },
    );

    it('holds a tenant to its plan’s daily executions: then 429 with the reset time, and nothing appended', async () => {
      const { operator: poor } = await toolTenant(t, 'free');
      let last = 0n;
      for (let i = 0; i < 20; i++) {
        const res = await execute(t, poor, 'hash-identify', { hash: 'abc' });
        expect(res.status).toBe(202);
        last = BigInt(((await res.json()) as LooseJson).position);
      }
      const refused = await execute(t, poor, 'hash-identify', { hash: 'abc' });
      expect(refused.status).toBe(429);
      expect(refused.headers.get('content-type')).toBe('application/problem+json');
      expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);
      expect(((await refused.json()) as LooseJson).detail).toMatch(/renew at \d{4}-\d\d-\d\dT00:00:00.000Z/);
      // The 20 runs go on appending; the refused request queued nothing.
      const queuedSince = await t.store.readAll({ after: last, types: ['ExecutionQueued'] });
      expect(queuedSince).toEqual([]);
    });
  });
}
