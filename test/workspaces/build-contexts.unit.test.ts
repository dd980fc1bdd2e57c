import { existsSync, mkdtempSync, readdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  BuildContextStore,
  CONTEXT_EXPIRY_MS,
  CONTEXT_SWEEP_INTERVAL_MS,
} from '../../src/workspaces/agent/build-contexts.ts';
import { rawTar } from '../support/raw-tar.ts';

const streamOf = (bytes: Uint8Array, chunk = 700) =>
  new ReadableStream<Uint8Array>({
    start(controller) {
      for (let i = 0; i < bytes.length; i += chunk) controller.enqueue(bytes.subarray(i, i + chunk));
      controller.close();
    },
  });
const sha256Hex = async (bytes: Uint8Array) =>
  Buffer.from(await crypto.subtle.digest('SHA-256', bytes as BufferSource)).toString('hex');

describe('the agent’s staged build contexts', () => {
  const dirs: string[] = [];
  const store = (clock?: () => number) => {
    const dir = mkdtempSync(join(tmpdir(), 'wctx-'));
    dirs.push(dir);
    return { dir, contexts: new BuildContextStore(dir, clock) };
  };
  afterEach(() => {
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  });

  it('stages a tar streamed in small chunks with its size and SHA-256, opens it only by that SHA-256, and removes it', async () => {
    const { dir, contexts } = store();
    const tar = rawTar([{ path: 'Dockerfile', content: 'FROM scratch\n' }]);
    const id = crypto.randomUUID();
    const staged = await contexts.stage(id, streamOf(tar));
    expect(staged).toEqual({ id, size: tar.length, sha256: await sha256Hex(tar) });
    await expect(contexts.open(id, '0'.repeat(64), 'Dockerfile')).rejects.toMatchObject({ status: 409 });
    const chunks: Buffer[] = [];
    for await (const chunk of await contexts.open(id, staged.sha256, 'Dockerfile'))
      chunks.push(chunk as Buffer);
    expect(Buffer.concat(chunks).equals(Buffer.from(tar))).toBe(true);
    await expect(contexts.stage(id, streamOf(tar))).rejects.toMatchObject({ status: 409 });
    await contexts.remove(id);
    expect(readdirSync(join(dir, 'contexts'))).toEqual([]);
    await expect(contexts.open(id, staged.sha256, 'Dockerfile')).rejects.toMatchObject({ status: 404 });
  });

  it('refuses a second stage of an id still streaming (409) and leaves the first one whole', async () => {
    const { dir, contexts } = store();
    const tar = rawTar([{ path: 'Dockerfile', content: 'FROM scratch\n' }]);
    const id = crypto.randomUUID();
    let push!: ReadableStreamDefaultController<Uint8Array>;
    const slow = new ReadableStream<Uint8Array>({
      start(controller) {
        push = controller;
        controller.enqueue(tar.subarray(0, 700));
      },
    });
    const first = contexts.stage(id, slow);
    // Its file is there once its first chunk is written.
    for (let turns = 0; !existsSync(join(dir, 'contexts', `${id}.tar`)) && turns < 200; turns++)
      await new Promise((resolve) => setTimeout(resolve, 5));
    await expect(contexts.stage(id, streamOf(tar))).rejects.toMatchObject({ status: 409 });
    push.enqueue(tar.subarray(700));
    push.close();
    const staged = await first;
    expect(staged).toEqual({ id, size: tar.length, sha256: await sha256Hex(tar) });
    const chunks: Buffer[] = [];
    for await (const chunk of await contexts.open(id, staged.sha256, 'Dockerfile'))
      chunks.push(chunk as Buffer);
    expect(Buffer.concat(chunks).equals(Buffer.from(tar))).toBe(true);
  });

  it('stages again into a folder removed by hand', async () => {
    const { dir, contexts } = store();
    const tar = rawTar([{ path: 'Dockerfile', content: 'FROM scratch\n' }]);
    await contexts.stage(crypto.randomUUID(), streamOf(tar));
    rmSync(join(dir, 'contexts'), { recursive: true, force: true });
    const id = crypto.randomUUID();
    await expect(contexts.stage(id, streamOf(tar))).resolves.toMatchObject({ id, size: tar.length });
  });

  it('refuses a body that is not a tar (422) or passes the cap (413), leaving nothing behind', async () => {
    const { dir, contexts } = store();
    await expect(
      contexts.stage(crypto.randomUUID(), streamOf(new TextEncoder().encode('FROM scratch\n'.repeat(100)))),
    ).rejects.toMatchObject({ status: 422 });
    await expect(contexts.stage(crypto.randomUUID(), streamOf(new Uint8Array(100)))).rejects.toMatchObject({
      status: 422,
    });
    const big = rawTar([{ path: 'blob', content: new Uint8Array(64 * 1024) }]);
    await expect(contexts.stage(crypto.randomUUID(), streamOf(big), 16 * 1024)).rejects.toMatchObject({
      status: 413,
    });
    expect(readdirSync(join(dir, 'contexts'))).toEqual([]);
  });

  it('expires a context no build named', async () => {
    const { dir, contexts } = store();
    const id = crypto.randomUUID();
    await contexts.stage(id, streamOf(rawTar([{ path: 'Dockerfile', content: 'FROM scratch\n' }])));
    await contexts.sweep(Date.now() + CONTEXT_EXPIRY_MS / 2);
    expect(readdirSync(join(dir, 'contexts')).length).toBe(2);
    await contexts.sweep(Date.now() + CONTEXT_EXPIRY_MS + 1000);
    expect(readdirSync(join(dir, 'contexts'))).toEqual([]);
  });

  it('sweeps expired contexts beside a stage, at most once a minute, never a fresh one', async () => {
    let now = Date.now();
    const { dir, contexts } = store(() => now);
    const tar = () => streamOf(rawTar([{ path: 'Dockerfile', content: 'FROM scratch\n' }]));
    await contexts.stage(crypto.randomUUID(), tar());
    // Left by a build that never came, over an hour ago.
    const stale = join(dir, 'contexts', `${crypto.randomUUID()}.tar`);
    writeFileSync(stale, 'abandoned');
    const hourAgo = (Date.now() - CONTEXT_EXPIRY_MS - 60_000) / 1000;
    utimesSync(stale, hourAgo, hourAgo);
    // Within the minute of the last sweep: this stage does not list the folder again.
    now += CONTEXT_SWEEP_INTERVAL_MS / 2;
    await contexts.stage(crypto.randomUUID(), tar());
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(existsSync(stale)).toBe(true);
    now += CONTEXT_SWEEP_INTERVAL_MS / 2;
    await contexts.stage(crypto.randomUUID(), tar());
    await expect.poll(() => existsSync(stale)).toBe(false);
    // The three staged contexts (tar and record each) stay.
    expect(readdirSync(join(dir, 'contexts')).length).toBe(6);
  });
});
