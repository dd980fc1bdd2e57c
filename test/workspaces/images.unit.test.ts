import { describe, expect, it } from 'vitest';
import {
  type ImagesCommand,
  type ImagesState,
  imagesDecider,
  ownRefsOf,
} from '../../src/commands/workspaces/index.ts';
import { looksLikeTar } from '../../src/workspaces/index.ts';
import { rawTar } from '../support/raw-tar.ts';

const tenantId = '00000000-0000-4000-8000-000000000001';
const imageId = '00000000-0000-4000-8000-000000000002';
const agentId = '00000000-0000-4000-8000-000000000003';
const at = '2026-01-01T00:00:00.000Z';

const run = (state: ImagesState, command: ImagesCommand) => {
  const events = imagesDecider.decide(command, state);
  return events.reduce(imagesDecider.evolve, state);
};
const requested = run(imagesDecider.initialState(), {
  type: 'RequestImageBuild',
  tenantId,
  imageId,
  agentId,
  name: 'team/app',
  tag: '1',
  dockerfile: 'Dockerfile',
  contextBytes: 1024,
  by: 'u1',
  at,
});

describe('image catalog decider', () => {
  it('records what a build asks of the engine (build arguments, target, no cache), and nothing when it asks none', () => {
    const asked = run(imagesDecider.initialState(), {
      type: 'RequestImageBuild',
      tenantId,
      imageId,
      agentId,
      name: 'team/app',
      tag: '2',
      dockerfile: 'Dockerfile',
      contextBytes: 1024,
      buildArgs: { GREETING: 'hello world', EMPTY: '' },
      target: 'greet',
      noCache: true,
      by: 'u1',
      at,
    });
    expect(asked.images[imageId]).toMatchObject({
      buildArgs: { GREETING: 'hello world', EMPTY: '' },
      target: 'greet',
      noCache: true,
    });
    const plain = requested.images[imageId]!;
    expect(['buildArgs', 'target', 'noCache'].filter((key) => key in plain)).toEqual([]);
  });

  it('refuses build arguments the engine would not take, and a target that is no stage name, as invalid: nothing decided', () => {
    const ask = (more: Partial<Extract<ImagesCommand, { type: 'RequestImageBuild' }>>) => () =>
      imagesDecider.decide(
        {
          type: 'RequestImageBuild',
          tenantId,
          imageId,
          agentId,
          name: 'team/app',
          tag: '3',
          dockerfile: 'Dockerfile',
          contextBytes: 1024,
          by: 'u1',
          at,
          ...more,
        },
        imagesDecider.initialState(),
      );
    for (const buildArgs of [
      { '1ST': 'x' },
      { 'A-B': 'x' },
      JSON.parse('{"__proto__":"x"}'),
      { A: 'nul\u0000' },
      { A: 'x'.repeat(4097) },
      Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`A${i}`, 'x'])),
    ]) {
      expect(ask({ buildArgs: JSON.parse(JSON.stringify(buildArgs)) }), JSON.stringify(buildArgs)).toThrow(
        expect.objectContaining({ code: 'INVALID' }),
      );
    }
    for (const target of ['', '-stage', 'two words', 'stage/x']) {
      expect(ask({ target }), target).toThrow(expect.objectContaining({ code: 'INVALID' }));
    }
    expect(
      ask({
        buildArgs: Object.fromEntries(Array.from({ length: 64 }, (_, i) => [`A${i}`, 'x'.repeat(4096)])),
        target: 'Build.stage_1-x',
      })(),
    ).toHaveLength(1);
  });

  it('pushes only a built image, and refuses deleting one a workspace uses, naming it', () => {
    expect(requested.images[imageId]?.status).toBe('building');
    const push = {
      type: 'RecordImagePushed',
      tenantId,
      imageId,
      ref: 'r.example/team/app:1',
      digest: null,
      by: 'u1',
      at,
    } as const;
    expect(() => run(requested, push)).toThrow(/building/);
    const built = run(requested, { type: 'RecordImageBuilt', tenantId, imageId, dockerId: 'sha256:abc', at });
    const pushed = run(built, push);
    expect(pushed.images[imageId]?.pushes.map((p) => p.ref)).toEqual(['r.example/team/app:1']);
    const del = { type: 'DeleteImage', tenantId, imageId, by: 'u1', at } as const;
    expect(() => run(pushed, { ...del, usedBy: ['ws-1'] })).toThrow(/ws-1/);
    expect(run(pushed, { ...del, usedBy: [] }).images[imageId]?.status).toBe('deleted');
  });

  it('starts a build once: a second start (its worker died) is refused as already_started', () => {
    const started = run(requested, { type: 'StartImageBuild', tenantId, imageId, worker: 'w1', at });
    expect(started.images[imageId]).toMatchObject({ status: 'building', startedBy: 'w1' });
    expect(() => run(started, { type: 'StartImageBuild', tenantId, imageId, worker: 'w2', at })).toThrow(
      expect.objectContaining({ code: 'RULE_VIOLATED', detail: { rule: 'already_started' } }),
    );
  });

  it('cancels only a build under way; a cancelled build is never started nor built, and may be deleted', () => {
    const cancel = { type: 'CancelImageBuild', tenantId, imageId, by: 'u1', at } as const;
    const cancelled = run(requested, cancel);
    expect(cancelled.images[imageId]).toMatchObject({ status: 'cancelled', finishedAt: at });
    expect(() => run(cancelled, cancel)).toThrow(/cancelled/);
    expect(
      imagesDecider.decide({ type: 'StartImageBuild', tenantId, imageId, worker: 'w1', at }, cancelled),
    ).toEqual([]);
    expect(
      imagesDecider.decide({ type: 'RecordImageBuilt', tenantId, imageId, dockerId: 'x', at }, cancelled),
    ).toEqual([]);
    const built = run(requested, { type: 'RecordImageBuilt', tenantId, imageId, dockerId: 'x', at });
    expect(() => run(built, cancel)).toThrow(/built/);
    const del: ImagesCommand = { type: 'DeleteImage', tenantId, imageId, usedBy: [], by: 'u1', at };
    expect(() => run(requested, del)).toThrow(/building/);
    expect(run(cancelled, del).images[imageId]?.status).toBe('deleted');
  });

  it('keeps refused pushes, and what the registry did with the pushed manifests on delete', () => {
    const built = run(requested, { type: 'RecordImageBuilt', tenantId, imageId, dockerId: 'x', at });
    const pushId = '00000000-0000-4000-8000-000000000004';
    const refused = run(built, {
      type: 'RecordImagePushFailed',
      tenantId,
      imageId,
      ref: 'r.example/team/app:1',
      pushId,
      reason: 'denied',
      by: 'u1',
      at,
    });
    expect(refused.images[imageId]?.pushFailures).toEqual([
      { ref: 'r.example/team/app:1', pushId, reason: 'denied', by: 'u1', at },
    ]);
    const deleted = run(refused, {
      type: 'DeleteImage',
      tenantId,
      imageId,
      usedBy: [],
      registry: 'kept',
      registryDetail: '405',
      by: 'u1',
      at,
    });
    expect(deleted.images[imageId]).toMatchObject({
      status: 'deleted',
      registry: 'kept',
      registryDetail: '405',
    });
  });

  it('lists a push under way from its start until it ends, pushed or refused, each end once', () => {
    const built = run(requested, { type: 'RecordImageBuilt', tenantId, imageId, dockerId: 'sha256:abc', at });
    const ref = 'r.example/team/app:1';
    const first = '00000000-0000-4000-8000-0000000000a1';
    const second = '00000000-0000-4000-8000-0000000000a2';
    const start = (pushId: string) =>
      ({ type: 'StartImagePush', tenantId, imageId, ref, pushId, by: 'u1', at }) as const;
    // Given a built image, when two pushes start, then both are under way, the oldest first.
    const going = run(run(built, start(first)), start(second));
    expect(going.images[imageId]?.pushesInProgress?.map((p) => p.pushId)).toEqual([first, second]);
    // The same push id does not start twice; only a built image is pushed.
    expect(() => run(going, start(first))).toThrow(/already exists/);
    expect(() => run(requested, start(first))).toThrow(/building/);
    // When one is pushed and the other refused, neither is under way any more.
    const pushed = run(going, {
      type: 'RecordImagePushed',
      tenantId,
      imageId,
      ref,
      digest: null,
      pushId: first,
      by: 'u1',
      at,
    });
    const ended = run(pushed, {
      type: 'RecordImagePushFailed',
      tenantId,
      imageId,
      ref,
      pushId: second,
      reason: 'interrupted',
      by: 'u1',
      at,
    });
    expect(ended.images[imageId]).toMatchObject({
      pushesInProgress: [],
      pushes: [{ pushId: first }],
      pushFailures: [{ pushId: second, reason: 'interrupted' }],
    });
    // A second end of either (a push ended as abandoned while its process came back) is nothing new.
    for (const again of [
      { type: 'RecordImagePushed', tenantId, imageId, ref, digest: null, pushId: second, by: 'u1', at },
      { type: 'RecordImagePushFailed', tenantId, imageId, ref, pushId: first, reason: 'late', by: 'u1', at },
    ] as const) {
      expect(imagesDecider.decide(again, ended)).toEqual([]);
    }
  });

  it('reads a record kept before pushes were started (no pushesInProgress) and ends its pushes as before', () => {
    const built = run(requested, { type: 'RecordImageBuilt', tenantId, imageId, dockerId: 'sha256:abc', at });
    const { pushesInProgress: _, ...old } = built.images[imageId]!;
    const before: ImagesState = { images: { [imageId]: old } };
    const pushId = '00000000-0000-4000-8000-0000000000a3';
    const ref = 'r.example/team/app:1';
    const pushed = run(before, {
      type: 'RecordImagePushed',
      tenantId,
      imageId,
      ref,
      digest: null,
      pushId,
      by: 'u1',
      at,
    });
    expect(pushed.images[imageId]?.pushes.map((p) => p.pushId)).toEqual([pushId]);
    expect(pushed.images[imageId]?.pushesInProgress).toBeUndefined();
  });

  it('records a failure once; a late success after it changes nothing', () => {
    const failed = run(requested, {
      type: 'RecordImageBuildFailed',
      tenantId,
      imageId,
      reason: 'exit 3',
      at,
    });
    expect(failed.images[imageId]).toMatchObject({ status: 'failed', reason: 'exit 3' });
    expect(
      imagesDecider.decide({ type: 'RecordImageBuilt', tenantId, imageId, dockerId: 'x', at }, failed),
    ).toEqual([]);
  });

  it('refuses a second build of a tag building or built on the same agent (tag_in_use); another agent, tag or an ended build leaves it free', () => {
    const again = (overrides: Partial<Extract<ImagesCommand, { type: 'RequestImageBuild' }>> = {}) =>
      ({
        type: 'RequestImageBuild',
        tenantId,
        imageId: '00000000-0000-4000-8000-000000000005',
        agentId,
        name: 'team/app',
        tag: '1',
        dockerfile: 'Dockerfile',
        contextBytes: 1,
        by: 'u2',
        at,
        ...overrides,
      }) as const;
    const inUse = (holders: string[]) =>
      expect.objectContaining({ code: 'RULE_VIOLATED', detail: { rule: 'tag_in_use', holders } });
    const built = run(requested, { type: 'RecordImageBuilt', tenantId, imageId, dockerId: 'x', at });
    // The refusal names the built image holding the tag (one a caller may find lost); a build under
    // way names none.
    expect(() => run(requested, again())).toThrow(inUse([]));
    expect(() => run(built, again())).toThrow(inUse([imageId]));
    expect(run(requested, again({ tag: '2' })).images).toHaveProperty(again().imageId);
    expect(run(requested, again({ agentId: '00000000-0000-4000-8000-000000000006' })).images).toHaveProperty(
      again().imageId,
    );
    const failed = run(requested, { type: 'RecordImageBuildFailed', tenantId, imageId, reason: 'x', at });
    const cancelled = run(requested, { type: 'CancelImageBuild', tenantId, imageId, by: 'u1', at });
    const deleted = run(built, { type: 'DeleteImage', tenantId, imageId, usedBy: [], by: 'u1', at });
    for (const state of [failed, cancelled, deleted]) {
      expect(run(state, again()).images[again().imageId]?.status).toBe('building');
    }
  });

  const rebuild = {
    type: 'RequestImageBuild',
    tenantId,
    imageId: '00000000-0000-4000-8000-000000000007',
    agentId,
    name: 'team/app',
    tag: '1',
    dockerfile: 'Dockerfile',
    contextBytes: 1,
    by: 'u2',
    at: '2026-01-02T00:00:00.000Z',
  } as const;
  const inUse = expect.objectContaining({
    code: 'RULE_VIOLATED',
    detail: expect.objectContaining({ rule: 'tag_in_use' }),
  });

  it('records a built image its agent answered it lost, and takes the tag, in one decision', () => {
    const built = run(requested, { type: 'RecordImageBuilt', tenantId, imageId, dockerId: 'x', at });
    const events = imagesDecider.decide({ ...rebuild, goneFromAgent: [imageId] }, built);
    expect(events.map((e) => e.type)).toEqual(['ImageLost', 'ImageBuildRequested']);
    expect(events[0]?.data).toEqual({
      imageId,
      tenantId,
      rebuiltAs: rebuild.imageId,
      by: 'u2',
      at: rebuild.at,
    });
    expect(events[1]?.data).not.toHaveProperty('goneFromAgent');
    const after = events.reduce(imagesDecider.evolve, built);
    expect(after.images[imageId]).toMatchObject({ status: 'lost', dockerId: 'x' });
    expect(after.images[imageId]?.reason).toContain('team/app:1');
    expect(after.images[rebuild.imageId]?.status).toBe('building');
    // A third request over the same loss meets the rebuild under way.
    const third = { ...rebuild, imageId: '00000000-0000-4000-8000-000000000008', goneFromAgent: [imageId] };
    expect(() => run(after, third)).toThrow(inUse);
    // A lost image is not pushed nor cancelled; it may be deleted.
    expect(() =>
      run(after, {
        type: 'RecordImagePushed',
        tenantId,
        imageId,
        ref: 'r.example/team/app:1',
        digest: null,
        by: 'u1',
        at,
      }),
    ).toThrow(/lost/);
    expect(() => run(after, { type: 'CancelImageBuild', tenantId, imageId, by: 'u1', at })).toThrow(/lost/);
    expect(
      run(after, { type: 'DeleteImage', tenantId, imageId, usedBy: [], by: 'u1', at }).images[imageId]
        ?.status,
    ).toBe('deleted');
  });

  it('never takes a build under way, nor a built image not named gone, as lost', () => {
    expect(() => run(requested, { ...rebuild, goneFromAgent: [imageId] })).toThrow(inUse);
    const built = run(requested, { type: 'RecordImageBuilt', tenantId, imageId, dockerId: 'x', at });
    expect(() => run(built, { ...rebuild, goneFromAgent: ['00000000-0000-4000-8000-000000000009'] })).toThrow(
      inUse,
    );
    // Gone from another agent, or the same tag on another agent: not this image.
    const elsewhere = {
      ...rebuild,
      agentId: '00000000-0000-4000-8000-000000000006',
      goneFromAgent: [imageId],
    };
    expect(imagesDecider.decide(elsewhere, built).map((e) => e.type)).toEqual(['ImageBuildRequested']);
  });

  it('deleting an image removes only the refs it alone answers for', () => {
    const push = (state: ImagesState, id: string, ref: string) =>
      run(state, { type: 'RecordImagePushed', tenantId, imageId: id, ref, digest: null, by: 'u1', at });
    const built = run(requested, { type: 'RecordImageBuilt', tenantId, imageId, dockerId: 'x', at });
    const pushed = push(built, imageId, 'r.example/team/app:1');
    expect(ownRefsOf(pushed.images[imageId]!, pushed)).toEqual(['team/app:1', 'r.example/team/app:1']);
    // Lost and built again (and pushed again to the same ref): the tag and the ref are the new image's.
    const rebuilt = run(run(pushed, { ...rebuild, goneFromAgent: [imageId] }), {
      type: 'RecordImageBuilt',
      tenantId,
      imageId: rebuild.imageId,
      dockerId: 'y',
      at,
    });
    expect(ownRefsOf(rebuilt.images[imageId]!, rebuilt)).toEqual(['r.example/team/app:1']);
    const repushed = push(rebuilt, rebuild.imageId, 'r.example/team/app:1');
    expect(ownRefsOf(repushed.images[imageId]!, repushed)).toEqual([]);
    expect(ownRefsOf(repushed.images[rebuild.imageId]!, repushed)).toEqual(['team/app:1']);
    // Once the lost one is deleted, the new one answers for the ref alone.
    const deleted = run(repushed, { type: 'DeleteImage', tenantId, imageId, usedBy: [], by: 'u1', at });
    expect(ownRefsOf(deleted.images[rebuild.imageId]!, deleted)).toEqual([
      'team/app:1',
      'r.example/team/app:1',
    ]);
    // A failed build's tag, built since by another build, is that build's.
    const failed = run(requested, { type: 'RecordImageBuildFailed', tenantId, imageId, reason: 'x', at });
    const after = run(failed, rebuild);
    expect(ownRefsOf(after.images[imageId]!, after)).toEqual([]);
    expect(ownRefsOf(failed.images[imageId]!, failed)).toEqual(['team/app:1']);
  });

  it('tells a tar from other bytes', () => {
    expect(looksLikeTar(rawTar([{ path: 'Dockerfile', content: 'FROM scratch\n' }]))).toBe(true);
    expect(looksLikeTar(new TextEncoder().encode('FROM scratch\n'.repeat(100)))).toBe(false);
    expect(looksLikeTar(new Uint8Array(0))).toBe(false);
  });
});
