import type { Kysely } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { recordImageBuilt, requestImageBuild, startImagePush } from '../../src/commands/workspaces/index.ts';
import { outputWriter, type ToolOutputTables } from '../../src/tools/index.ts';
import { type SignedInUser, type TestApp, testApp } from '../support/app.ts';
import { freshPGlite } from '../support/databases.ts';
import { sseFrames } from '../support/sse.ts';

/*
 * A push whose Warden process stopped mid-push never records its end: the catalog's next read ends it
 * (refused, interrupted) once it is older than any push can run, and writes the final frame its
 * followers wait for. No agent is needed: the pushes are recorded as the push route records them,
 * with the clock moved.
 */
interface ImageBody {
  pushes_in_progress: Array<{ ref: string; at: string; stream: string }>;
  push_failures: Array<{ ref: string; reason: string; by: string; stream: string }>;
}

const MINUTE = 60_000;

describe('a push abandoned by its process', () => {
  let t: TestApp;
  let now = Date.parse('2026-06-01T12:00:00.000Z');
  let operator: SignedInUser;
  let stranger: SignedInUser;
  const imageId = crypto.randomUUID();
  const abandoned = crypto.randomUUID();
  const young = crypto.randomUUID();
  const ref = 'registry.example/team/app:1';

  beforeAll(async () => {
    t = await testApp(freshPGlite, { clock: () => new Date(now) });
    const admin = await t.user({ role: 'admin' });
    operator = await t.user({ tenant: admin.tenantSlug, role: 'operator' });
    stranger = await t.user({ role: 'admin' });
    const context = { metadata: { tenantId: admin.tenantId, actorId: operator.userId } };
    const tenantId = admin.tenantId;
    const at = (ms: number) => new Date(ms).toISOString();
    await requestImageBuild(
      t.store,
      {
        tenantId,
        imageId,
        agentId: crypto.randomUUID(),
        name: 'team/app',
        tag: '1',
        dockerfile: 'Dockerfile',
        contextBytes: 10,
        by: operator.userId,
        at: at(now - 60 * MINUTE),
      },
      context,
    );
    await recordImageBuilt(
      t.store,
      { tenantId, imageId, dockerId: 'sha256:abc', at: at(now - 50 * MINUTE) },
      context,
    );
    // One push started 12 minutes ago (past the 10-minute agent call and its minute of grace), whose
    // process wrote a line and stopped; one started a minute ago, still going.
    for (const [pushId, ago] of [
      [abandoned, 12 * MINUTE],
      [young, MINUTE],
    ] as const) {
      await startImagePush(
        t.store,
        { tenantId, imageId, ref, pushId, by: operator.userId, at: at(now - ago) },
        context,
      );
    }
    const lines = outputWriter(t.database.db as unknown as Kysely<ToolOutputTables>, abandoned, {
      capBytes: 1 << 20,
    });
    lines.sink.write('stdout', 'The push refers to repository [registry.example/team/app]\n');
    await lines.close();
  });
  afterAll(async () => {
    await t?.dispose();
  });

  const as = (user: SignedInUser, path: string) =>
    t.request(path, { token: user.token, tenant: user.tenantSlug });
  const pushEvents = async () =>
    (await t.store.readStream(`workspaces.Images-${operator.tenantId}`)).filter((e) =>
      e.type.startsWith('ImagePush'),
    );

  it('is ended as interrupted on the next read, once; the push still going stays under way', async () => {
    const image = (await (await as(operator, `/v1/images/${imageId}`)).json()) as ImageBody;
    expect(image.pushes_in_progress.map((p) => p.stream)).toEqual([
      `/v1/images/${imageId}/pushes/${young}/stream`,
    ]);
    expect(image.push_failures).toEqual([
      expect.objectContaining({
        ref,
        by: operator.userId,
        reason: expect.stringMatching(/^interrupted: the Warden process pushing it stopped/),
        stream: `/v1/images/${imageId}/pushes/${abandoned}/stream`,
      }),
    ]);
    // Read again (the list, then the image): nothing more is recorded.
    expect((await as(operator, '/v1/images')).status).toBe(200);
    expect((await as(operator, `/v1/images/${imageId}`)).status).toBe(200);
    const failed = (await pushEvents()).filter((e) => e.type === 'ImagePushFailed');
    expect(failed).toHaveLength(1);
    expect(failed[0]?.metadata).toMatchObject({ actorId: 'process:push-expiry' });
  });

  it('its stream ends: the line it had written, why it ended, then the final failed status', async () => {
    const answer = await as(operator, `/v1/images/${imageId}/pushes/${abandoned}/stream`);
    expect(answer.status).toBe(200);
    const frames = sseFrames(await answer.text());
    expect(frames.map((f) => f.kind)).toEqual(['stdout', 'stderr', 'status']);
    expect(JSON.parse(frames[2]!.data)).toMatchObject({
      status: 'failed',
      reason: expect.stringMatching(/^interrupted/),
    });
  });

  it('the push still going is ended the same way once it too outlives any push; another tenant sees neither', async () => {
    now += 11 * MINUTE;
    const image = (await (await as(operator, '/v1/images')).json()) as { items: ImageBody[] };
    expect(image.items[0]?.pushes_in_progress).toEqual([]);
    expect(image.items[0]?.push_failures).toHaveLength(2);
    for (const push of [abandoned, young]) {
      expect((await as(stranger, `/v1/images/${imageId}/pushes/${push}/stream`)).status).toBe(404);
    }
    expect((await pushEvents()).map((e) => e.type)).toEqual([
      'ImagePushStarted',
      'ImagePushStarted',
      'ImagePushFailed',
      'ImagePushFailed',
    ]);
  });
});
