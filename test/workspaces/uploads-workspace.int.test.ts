import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import type { Kysely } from 'kysely';
import * as tus from 'tus-js-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Worker } from '../../src/processes/runtime/index.ts';
import { agentKeys, uploadExpiry } from '../../src/workspaces/index.ts';
import { type LooseJson, type SignedInUser, type TestApp, testApp } from '../support/app.ts';
import { freshPGlite } from '../support/databases.ts';
import { type Dockerd, importBaseImage, startDockerd } from '../support/docker.ts';
import { provisioningWorkers, type RunningAgent, registerAgentViaApi, startAgent } from './agent-support.ts';
import { headersOf, tusRequests, uploadEventsOf } from './tus-client.ts';

const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

describe('uploads into a workspace’s data folder, and the expiry of abandoned uploads', () => {
  let t: TestApp;
  let daemon: Dockerd;
  let agent: RunningAgent;
  let worker: Worker;
  let server: Awaited<ReturnType<TestApp['listening']>>;
  let image: string;
  let slug: string;
  let tenantId: string;
  let admin: SignedInUser;
  let owner: SignedInUser;
  let agentId: string;
  let workspaceId: string;

  beforeAll(async () => {
    daemon = await startDockerd();
    [t, agent, image] = await Promise.all([
      testApp(freshPGlite),
      startAgent(daemon),
      importBaseImage(daemon),
    ]);
    worker = await provisioningWorkers(t);
    server = await t.listening();
    const tenant = await t.tenant(undefined, 'basic');
    slug = tenant.slug;
    tenantId = tenant.id;
    admin = await t.user({ tenant: slug, role: 'admin' });
    owner = await t.user({ tenant: slug, role: 'member' });
    agentId = (await registerAgentViaApi(t, admin, agent, { name: 'host-a', waitMs: 30_000 })).id;
    const requested = await t.request('/v1/workspaces', {
      token: owner.token,
      tenant: slug,
      json: { image, resources: { cpus: 0.5, memory_mb: 64 } },
    });
    expect(requested.status).toBe(202);
    workspaceId = ((await requested.json()) as { id: string }).id;
    // expect.poll is for tests only: the hook waits for the workspace by hand (generously).
    const deadline = Date.now() + 180_000;
    let status = '';
    while (status !== 'ready') {
      const answer = await t.request(`/v1/workspaces/${workspaceId}`, { token: owner.token, tenant: slug });
      status = ((await answer.json()) as { status: string }).status;
      if (status === 'failed' || Date.now() > deadline) throw new Error(`the workspace is ${status}`);
      if (status !== 'ready') await new Promise((r) => setTimeout(r, 200));
    }
  }, 400_000);
  afterAll(async () => {
    await server?.close();
    await worker?.stop();
    await agent?.dispose();
    await daemon?.stop();
    await t?.dispose();
  });

  const { create, head, patch } = tusRequests(() => server.base);
  const uploadEvents = () => uploadEventsOf(t.store, tenantId);
  const dataFolder = () => join(agent.workDir, 'workspaces', workspaceId, 'data');
  const inContainer = (...cmd: string[]) =>
    execFileSync('docker', ['-H', daemon.host, 'exec', `warden-ws-${workspaceId}`, ...cmd], {
      encoding: 'latin1',
    });

  it('lands a member’s upload in their workspace’s data folder, visible at /data in the running container, only after the SHA-256 matched', async () => {
    const file = randomBytes(300_000);
    let location = '';
    const midway: boolean[] = [];
    await new Promise<void>((resolve, reject) => {
      const upload = new tus.Upload(file, {
        endpoint: `${server.base}/v1/uploads`,
        headers: headersOf(owner),
        metadata: { sha256: sha256(file), workspace: workspaceId, path: 'datasets/2026/train.bin' },
        chunkSize: 100_000,
        retryDelays: [],
        onProgress: (sent) => {
          // Mid-way, nothing is in the workspace yet: the file appears whole or not at all.
          if (sent < file.length)
            midway.push(existsSync(join(dataFolder(), 'datasets', '2026', 'train.bin')));
        },
        onSuccess: () => {
          location = new URL(upload.url ?? '').pathname;
          resolve();
        },
        onError: reject,
      });
      upload.start();
    });
    expect(midway.length).toBeGreaterThan(0);
    expect(midway.every((seen) => !seen)).toBe(true);
    const inside = inContainer('cat', '/data/datasets/2026/train.bin');
    expect(sha256(Buffer.from(inside, 'latin1'))).toBe(sha256(file));
    const uploadId = location.split('/').at(-1) ?? '';
    const events = (await uploadEvents()).filter((e) => e.data.uploadId === uploadId);
    expect(events.map((e) => e.type)).toEqual(['UploadStarted', 'UploadCompleted']);
    expect(events[0]?.data).toMatchObject({
      workspaceId,
      path: 'datasets/2026/train.bin',
      fileName: 'train.bin',
      agentId,
      by: owner.userId,
    });
    expect(events[1]?.data.path).toBe(join(dataFolder(), 'datasets', '2026', 'train.bin'));
    // No temporary file is left in the workspace.
    expect(readdirSync(join(dataFolder(), 'datasets', '2026'))).toEqual(['train.bin']);

    // A mismatching SHA-256 leaves nothing in the workspace.
    const bad = randomBytes(1000);
    const created = await create(owner, bad.length, {
      sha256: sha256(randomBytes(4)),
      workspace: workspaceId,
      path: 'bad.bin',
    });
    expect(created.status).toBe(201);
    const refused = await patch(owner, created.headers.get('location') ?? '', 0, bad);
    expect(refused.status).toBe(422);
    expect(existsSync(join(dataFolder(), 'bad.bin'))).toBe(false);
    expect(inContainer('ls', '/data')).not.toContain('bad.bin');
  });

  it('refuses other users, other tenants and paths out of the folder (symbolic links too), appending nothing', async () => {
    const file = randomBytes(100);
    const fields = { sha256: sha256(file), workspace: workspaceId, path: 'x.bin' };
    const before = (await uploadEvents()).length;

    const otherMember = await t.user({ tenant: slug, role: 'member' });
    expect((await create(otherMember, 100, fields)).status).toBe(404);
    const operator = await t.user({ tenant: slug, role: 'operator' });
    const operatorAnswer = await create(operator, 100, fields);
    expect(operatorAnswer.status).toBe(403);
    expect(operatorAnswer.headers.get('content-type')).toContain('application/problem+json');
    const stranger = await t.user({ role: 'admin' });
    expect((await create(stranger, 100, fields)).status).toBe(404);
    // A member may not upload into an agent's store.
    expect((await create(owner, 100, { filename: 'x', sha256: sha256(file), agent: agentId })).status).toBe(
      403,
    );

    for (const path of ['../x.bin', 'a/../../x.bin', '/etc/passwd', 'nul\u0000.bin', 'a//b', 'back\\slash']) {
      const answer = await create(owner, 100, { ...fields, path });
      expect(answer.status).toBe(400);
      const problem = (await answer.json()) as LooseJson;
      // Only the path is named (an absolute one breaks two of its rules).
      expect(new Set(problem.errors.map((e: LooseJson) => e.path))).toEqual(
        new Set(['header.upload-metadata.path']),
      );
    }
    const both = await create(owner, 100, { ...fields, agent: agentId });
    expect(both.status).toBe(400);

    // A link in the workspace (its container can make one) pointing out of the folder is refused.
    const outside = mkdtempSync('/tmp/outside-');
    try {
      symlinkSync(outside, join(dataFolder(), 'escape'));
      mkdirSync(join(dataFolder(), 'real'), { recursive: true });
      symlinkSync(join(outside, 'f'), join(dataFolder(), 'real', 'link.bin'));
      for (const path of ['escape/x.bin', 'escape/deeper/x.bin', 'real/link.bin']) {
        const answer = await create(owner, 100, { ...fields, path });
        expect(answer.status).toBe(400);
        const problem = (await answer.json()) as LooseJson;
        expect(problem.errors).toEqual([expect.objectContaining({ path: 'header.upload-metadata.path' })]);
        expect(problem.errors[0].message).toMatch(/symbolic link/);
      }
      expect(readdirSync(outside)).toEqual([]);
    } finally {
      rmSync(join(dataFolder(), 'escape'), { force: true });
      rmSync(outside, { recursive: true, force: true });
    }
    expect((await uploadEvents()).length).toBe(before);
    expect(readdirSync(join(agent.workDir, 'uploads')).filter((n) => n.endsWith('.part'))).toEqual([]);

    // The admin may upload into the member's workspace.
    const byAdmin = await create(admin, file.length, { ...fields, path: 'from-admin.bin' });
    expect(byAdmin.status).toBe(201);
    expect((await patch(admin, byAdmin.headers.get('location') ?? '', 0, file)).status).toBe(204);
    expect(sha256(Buffer.from(inContainer('cat', '/data/from-admin.bin'), 'latin1'))).toBe(sha256(file));
  });

  it('expires an upload with no progress: recorded, partial file deleted, HEAD and PATCH 410; Upload-Expires is announced', async () => {
    const operator = await t.user({ tenant: slug, role: 'operator' });
    const file = randomBytes(10_000);
    const created = await create(operator, file.length, {
      filename: 'abandoned.img',
      sha256: sha256(file),
      agent: agentId,
    });
    expect(created.status).toBe(201);
    // The default expiry (24 h) is announced, per the tus expiration extension.
    const announced = Date.parse(created.headers.get('upload-expires') ?? '');
    expect(announced).toBeGreaterThan(Date.now() + 23 * 3600_000);
    const location = created.headers.get('location') ?? '';
    const uploadId = location.split('/').at(-1) ?? '';
    const first = await patch(operator, location, 0, file.subarray(0, 4000));
    expect(first.status).toBe(204);
    expect(Date.parse(first.headers.get('upload-expires') ?? '')).toBeGreaterThan(Date.now() + 23 * 3600_000);
    const part = join(agent.workDir, 'uploads', `${uploadId}.part`);
    expect(existsSync(part)).toBe(true);

    // A long expiry leaves it alone; a tiny one (as the sweep of a process configured so) expires it.
    const keys = agentKeys(t.database.db as Kysely<unknown>, t.identity.sealer);
    const patient = uploadExpiry({ store: t.store, keys, clock: () => new Date(), expiryMs: 3600_000 });
    expect(await patient.sweep()).toBe(0);
    const hasty = uploadExpiry({ store: t.store, keys, clock: () => new Date(), expiryMs: 50 });
    await expect
      .poll(
        async () => {
          await hasty.sweep();
          return (await uploadEvents()).filter((e) => e.data.uploadId === uploadId).map((e) => e.type);
        },
        { timeout: 60_000, interval: 200 },
      )
      .toEqual(['UploadStarted', 'UploadExpired']);
    expect(existsSync(part)).toBe(false);
    expect((await head(operator, location)).status).toBe(410);
    const late = await patch(operator, location, 4000, file.subarray(4000));
    expect(late.status).toBe(410);
    expect(late.headers.get('content-type')).toContain('application/problem+json');
    // Expired once: a second sweep records nothing more.
    await hasty.sweep();
    expect((await uploadEvents()).filter((e) => e.data.uploadId === uploadId)).toHaveLength(2);
  });

  it('deletes the workspace’s data folder with it when asked to (delete_data=true)', async () => {
    expect(existsSync(dataFolder())).toBe(true);
    const deleted = await fetch(`${server.base}/v1/workspaces/${workspaceId}?delete_data=true`, {
      method: 'DELETE',
      headers: headersOf(admin),
    });
    expect(deleted.status, await deleted.clone().text()).toBe(202);
    await expect
      .poll(() => existsSync(join(agent.workDir, 'workspaces', workspaceId)), {
        timeout: 180_000,
        interval: 200,
      })
      .toBe(false);
    expect(
      execFileSync('docker', ['-H', daemon.host, 'ps', '-aq', '--filter', `name=warden-ws-${workspaceId}`], {
        encoding: 'latin1',
      }).trim(),
    ).toBe('');
  }, 240_000);
});
