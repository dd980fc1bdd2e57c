import type { Kysely } from 'kysely';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { type Frame, streamHub, type ToolOutputTables } from '../../src/tools/index.ts';
import { type LooseJson, type SignedInUser, type TestApp, testApp } from '../support/app.ts';
import { databaseKinds } from '../support/postgres.ts';
import { execute, toolTenant } from './support.ts';

/** The frames of an in-process SSE answer until its final status, or what came before `waitMs`. */
async function sseFrames(res: Response, waitMs: number): Promise<Frame[]> {
  const frames: Frame[] = [];
  if (!res.body) return frames;
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  const giveUp = setTimeout(() => void reader.cancel().catch(() => undefined), waitMs);
  let buffer = '';
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += value;
      for (let end = buffer.indexOf('\n\n'); end >= 0; end = buffer.indexOf('\n\n')) {
        const data = buffer
          .slice(0, end)
          .split('\n')
          .find((line) => line.startsWith('data: '));
        buffer = buffer.slice(end + 2);
        if (data) frames.push(JSON.parse(data.slice('data: '.length)) as Frame);
      }
    }
  } catch {
    // Cancelled at `waitMs`: the frames so far are the answer.
  } finally {
    clearTimeout(giveUp);
  }
  return frames;
}

/**
 * Where a stream resumes is the caller's to say, but never anyone else's: every stream of a process
 * shares one reader of tool output (the hub), so a resume point must neither break that reader for
 * every tenant nor hide frames from the other streams of the same run.
 */
for (const kind of databaseKinds) {
  describe(`stream resume points (${kind.name})`, () => {
    let t: TestApp;
    let attacker: SignedInUser;
    let victim: SignedInUser;
    beforeAll(async () => {
      // No tool worker: runs stay queued and their frames are written here, as another process's worker would.
      t = await testApp(kind.fresh);
      ({ operator: attacker } = await toolTenant(t));
      ({ operator: victim } = await toolTenant(t));
    });
    afterAll(async () => {
      await t?.dispose();
    });
    const db = () => t.database.db as unknown as Kysely<ToolOutputTables>;
    const write = (executionId: string, seq: number, kind: Frame['kind'], data: string) =>
      db().insertInto('warden_tool_output').values({ execution_id: executionId, seq, kind, data }).execute();
    const stream = (user: SignedInUser, id: string, query = '') =>
      t.request(`/v1/executions/${id}/stream${query}`, { token: user.token, tenant: user.tenantSlug });

    it('refuses a resume point past any frame seq with 400 naming query.after; another tenant’s stream still gets its frames', async () => {
      const own = await execute(t, attacker, 'hash-identify', { hash: 'abc' });
      const ownId = ((await own.json()) as LooseJson).id;
      const poisoned = await stream(attacker, ownId, '?after=3000000000');
      expect(poisoned.status).toBe(400);
      expect(poisoned.headers.get('content-type')).toBe('application/problem+json');
      expect(((await poisoned.json()) as LooseJson).errors.map((e: LooseJson) => e.path)).toEqual([
        'query.after',
      ]);

      const theirs = await execute(t, victim, 'hash-identify', { hash: 'abc' });
      const theirId = ((await theirs.json()) as LooseJson).id;
      const watching = await stream(victim, theirId);
      expect(watching.status).toBe(200);
      const frames = sseFrames(watching, 10_000);
      await write(theirId, 1, 'stdout', 'MD5?\n');
      await write(theirId, 2, 'status', JSON.stringify({ status: 'completed' }));
      expect((await frames).map((f) => f.data)).toEqual(['MD5?\n', JSON.stringify({ status: 'completed' })]);
    });

    it('keeps reading every run for the process when one subscriber’s backlog read fails', async () => {
      const hub = streamHub({ db: db(), pollMs: 20 });
      try {
        const victimId = crypto.randomUUID();
        const got: Frame[] = [];
        const off = await hub.subscribe(victimId, 0, { onFrames: (f) => got.push(...f) });
        // A seq the column cannot hold: the read fails (and must leave nothing of it behind).
        await expect(
          hub.subscribe(crypto.randomUUID(), 3_000_000_000, { onFrames: () => {} }),
        ).rejects.toThrow();
        expect(hub.size()).toBe(1);
        await write(victimId, 1, 'stdout', 'still read\n');
        await vi.waitFor(() => expect(got.map((f) => f.data)).toEqual(['still read\n']), { timeout: 5_000 });
        off();
      } finally {
        await hub.close();
      }
    });

    it('hands a run’s frames to every stream of it, even after one asked to resume past its last frame', async () => {
      const hub = streamHub({ db: db(), pollMs: 20 });
      try {
        const executionId = crypto.randomUUID();
        const ahead: Frame[] = [];
        const watcher: Frame[] = [];
        // The run's owner resumes at a seq its run has not reached; an admin then watches from the start.
        const offAhead = await hub.subscribe(executionId, 50, { onFrames: (f) => ahead.push(...f) });
        const offWatcher = await hub.subscribe(executionId, 0, { onFrames: (f) => watcher.push(...f) });
        for (let seq = 1; seq <= 3; seq++) await write(executionId, seq, 'stdout', `line ${seq}\n`);
        await vi.waitFor(() => expect(watcher.map((f) => f.seq)).toEqual([1, 2, 3]), { timeout: 5_000 });
        expect(ahead).toEqual([]);
        offAhead();
        offWatcher();
      } finally {
        await hub.close();
      }
    });
  });
}
