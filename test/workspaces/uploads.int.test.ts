import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { join } from 'node:path';
import type { Kysely } from 'kysely';
import * as tus from 'tus-js-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { agentKeys, uploadExpiry } from '../../src/workspaces/index.ts';
import { decodeKey, signatureHeaders, UNSIGNED_PAYLOAD } from '../../src/workspaces/signing.ts';
import type { LooseJson, SignedInUser, TestApp } from '../support/app.ts';
import type { RunningAgent } from './agent-support.ts';
import { headersOf, tusRequests, uploadEventsOf } from './tus-client.ts';
import { startUploadHost, stopUploadHost, type UploadHost } from './upload-host.ts';

const MB = 1024 * 1024;
const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

describe('resumable uploads (tus) into an agent’s store', () => {
  let t: TestApp;
  let agent: RunningAgent;
  let server: Awaited<ReturnType<TestApp['listening']>>;
  let admin: SignedInUser;
  let operator: SignedInUser;
  let tenantId: string;
  let agentId: string;

  let host: UploadHost | undefined;

  beforeAll(async () => {
    host = await startUploadHost({ name: 'store-host' });
    ({ t, agent, server, tenantId, admin, operator, agentId } = host);
  }, 180_000);
  afterAll(() => stopUploadHost(host));

  const { create, head, patch } = tusRequests(() => server.base);
  /** Opens an operator's upload of `file` on the agent, named `filename`, with its true SHA-256. */
  const openUpload = async (file: Uint8Array, filename: string) => {
    const created = await create(operator, file.length, { filename, sha256: sha256(file), agent: agentId });
    const location = created.headers.get('location') ?? '';
    return { created, location, uploadId: location.split('/').at(-1) ?? '' };
  };
  const uploadEvents = () => uploadEventsOf(t.store, tenantId);
  const partials = () => {
    const dir = join(agent.workDir, 'uploads');
    return existsSync(dir) ? readdirSync(dir) : [];
  };

  it('resumes an interrupted upload from the offset the agent holds: a raw HEAD shows it, tus-js-client finishes, the SHA-256 matches', async () => {
    const file = randomBytes(12 * MB + 4321);
    const { created, location, uploadId } = await openUpload(file, 'guest-os.img');
    expect(created.status).toBe(201);
    expect(location).toMatch(/^\/v1\/uploads\/[0-9a-f-]{36}$/);

    // A client sends the first 5 MB and 123 bytes of a PATCH, then its connection drops.
    const sent = 5 * MB + 123;
    const url = new URL(`${server.base}${location}`);
    const req = httpRequest({
      host: url.hostname,
      port: url.port,
      path: url.pathname,
      method: 'PATCH',
      headers: {
        ...headersOf(operator),
        'tus-resumable': '1.0.0',
        'upload-offset': '0',
        'content-type': 'application/offset+octet-stream',
        'content-length': String(file.length),
      },
    });
    req.on('error', () => undefined);
    req.write(file.subarray(0, sent));
    const part = join(agent.workDir, 'uploads', `${uploadId}.part`);
    // The agent writes in batches of up to 1 MB: once 4 MB are on its disk the bytes are flowing;
    // a moment later the connection drops, and the agent writes whatever it had gathered.
    const deadline = Date.now() + 30_000;
    while (statSync(part).size < 4 * MB && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    await new Promise((r) => setTimeout(r, 300));
    req.destroy();

    // What reached the agent's disk is the offset a raw HEAD answers.
    let offset = -1;
    let previous = -2;
    for (let i = 0; i < 100 && (offset !== previous || offset !== statSync(part).size); i++) {
      await new Promise((r) => setTimeout(r, 50));
      previous = offset;
      const answer = await head(operator, location);
      expect(answer.status).toBe(200);
      expect(answer.headers.get('upload-length')).toBe(String(file.length));
      offset = Number(answer.headers.get('upload-offset'));
    }
    expect(offset).toBe(statSync(part).size);
    expect(offset).toBeGreaterThanOrEqual(4 * MB);
    expect(offset).toBeLessThanOrEqual(sent);

    // The reference client resumes from there (it asks HEAD itself) and sends only the rest.
    const patched: number[] = [];
    await new Promise<void>((resolve, reject) => {
      const upload = new tus.Upload(file, {
        uploadUrl: `${server.base}${location}`,
        headers: headersOf(operator),
        retryDelays: [],
        onBeforeRequest: (request) => {
          if (request.getMethod() === 'PATCH') patched.push(Number(request.getHeader('Upload-Offset')));
        },
        onSuccess: () => resolve(),
        onError: reject,
      });
      upload.start();
    });
    expect(patched[0]).toBe(offset);

    const stored = join(agent.workDir, 'store', uploadId, 'guest-os.img');
    expect(sha256(readFileSync(stored))).toBe(sha256(file));
    expect(partials()).not.toContain(`${uploadId}.part`);
    const events = (await uploadEvents()).filter((e) => e.data.uploadId === uploadId);
    expect(events.map((e) => e.type)).toEqual(['UploadStarted', 'UploadCompleted']);
    expect(events[0]?.data).toMatchObject({
      size: file.length,
      fileName: 'guest-os.img',
      by: operator.userId,
    });
    expect(events[1]?.data.path).toBe(stored);
    const done = await head(operator, location);
    expect(done.headers.get('upload-offset')).toBe(String(file.length));
  });

  it('uploads a file in one go with tus-js-client (creation and PATCH through Warden)', async () => {
    const file = randomBytes(3 * MB);
    const url = await new Promise<string>((resolve, reject) => {
      const upload = new tus.Upload(file, {
        endpoint: `${server.base}/v1/uploads`,
        headers: headersOf(admin),
        metadata: { filename: 'dataset.csv', sha256: sha256(file), agent: agentId },
        retryDelays: [],
        onSuccess: () => resolve(upload.url ?? ''),
        onError: reject,
      });
      upload.start();
    });
    const uploadId = url.split('/').at(-1) ?? '';
    expect(sha256(readFileSync(join(agent.workDir, 'store', uploadId, 'dataset.csv')))).toBe(sha256(file));
  });

  it('takes a PATCH body only as fast as the agent does: with the agent frozen, Warden stops reading early, then finishes when it thaws', {
    timeout: 120_000,
  }, async () => {
    // 128 MB of one repeated 1 MB piece; the agent is frozen (SIGSTOP) once 8 MB went through.
    const piece = randomBytes(MB);
    const pieces = 128;
    const hash = createHash('sha256');
    for (let i = 0; i < pieces; i++) hash.update(piece);
    const created = await create(operator, pieces * MB, {
      filename: 'frozen.img',
      sha256: hash.digest('hex'),
      agent: agentId,
    });
    expect(created.status).toBe(201);
    const location = created.headers.get('location') ?? '';
    let sent = 0;
    try {
      const answered = new Promise<number>((resolve, reject) => {
        const req = httpRequest(`${server.base}${location}`, {
          method: 'PATCH',
          headers: {
            ...headersOf(operator),
            'tus-resumable': '1.0.0',
            'upload-offset': '0',
            'content-type': 'application/offset+octet-stream',
            'content-length': String(pieces * MB),
          },
        });
        req.once('response', (response) => {
          response.resume();
          resolve(response.statusCode ?? 0);
        });
        req.once('error', reject);
        const drained = (timeoutMs: number) =>
          new Promise<boolean>((done) => {
            const timer = setTimeout(() => done(false), timeoutMs);
            req.once('drain', () => {
              clearTimeout(timer);
              done(true);
            });
          });
        void (async () => {
          while (sent < 8 * MB) {
            sent += MB;
            if (!req.write(piece)) await drained(60_000);
          }
          // The agent has the upload open and takes bytes: now it freezes. Send while Warden keeps
          // taking the bytes; 3 s without a drain means it stopped reading.
          agent.signal('SIGSTOP');
          const frozenAt = sent;
          while (sent < pieces * MB) {
            sent += MB;
            if (!req.write(piece) && !(await drained(3_000))) break;
          }
          agent.signal('SIGCONT');
          // Loopback and the sockets' buffers hold a few megabytes (2-3 here); a reader that did not
          // follow the agent's pace would hold the rest of the body in Warden's memory.
          expect(sent - frozenAt).toBeLessThan(48 * MB);
          while (sent < pieces * MB) {
            sent += MB;
            if (!req.write(piece)) await drained(60_000);
          }
          req.end();
        })().catch(reject);
      });
      expect(await answered).toBe(204);
    } finally {
      agent.signal('SIGCONT');
    }
    const uploadId = location.split('/').at(-1) ?? '';
    expect(statSync(join(agent.workDir, 'store', uploadId, 'frozen.img')).size).toBe(pieces * MB);
  });

  it('refuses a file whose bytes do not match the declared SHA-256, and deletes them', async () => {
    const file = randomBytes(MB);
    const created = await create(operator, file.length, {
      filename: 'tampered.img',
      sha256: sha256(randomBytes(8)),
      agent: agentId,
    });
    const location = created.headers.get('location') ?? '';
    const uploadId = location.split('/').at(-1) ?? '';
    const answer = await patch(operator, location, 0, file);
    expect(answer.status).toBe(422);
    expect(answer.headers.get('content-type')).toContain('application/problem+json');
    expect(((await answer.json()) as LooseJson).detail).toContain(sha256(file));
    expect(existsSync(join(agent.workDir, 'store', uploadId))).toBe(false);
    expect(partials().filter((name) => name.startsWith(uploadId))).toEqual([]);
    const events = (await uploadEvents()).filter((e) => e.data.uploadId === uploadId);
    expect(events.map((e) => e.type)).toEqual(['UploadStarted', 'UploadFailed']);
    expect((await head(operator, location)).status).toBe(410);
  });

  it('answers a PATCH at the wrong Upload-Offset 409 and keeps the upload as it was', async () => {
    const file = randomBytes(64 * 1024);
    const { location } = await openUpload(file, 'offsets.bin');
    expect((await patch(operator, location, 0, file.subarray(0, 1000))).status).toBe(204);
    const wrong = await patch(operator, location, 500, file.subarray(500));
    expect(wrong.status).toBe(409);
    expect(((await wrong.json()) as LooseJson).type).toContain('upload-offset-mismatch');
    expect((await head(operator, location)).headers.get('upload-offset')).toBe('1000');
    expect((await patch(operator, location, 1000, file.subarray(1000))).status).toBe(204);
  });

  it('cancels an unfinished upload with DELETE (tus termination): its bytes go, its quota comes back', async () => {
    const file = randomBytes(4096);
    const { location, uploadId } = await openUpload(file, 'cancelled.bin');
    expect((await patch(operator, location, 0, file.subarray(0, 1000))).status).toBe(204);
    const cancelled = await fetch(`${server.base}${location}`, {
      method: 'DELETE',
      headers: { ...headersOf(operator), 'tus-resumable': '1.0.0' },
    });
    expect(cancelled.status).toBe(204);
    expect(partials().filter((name) => name.startsWith(uploadId))).toEqual([]);
    const events = (await uploadEvents()).filter((e) => e.data.uploadId === uploadId);
    expect(events.map((e) => e.type)).toEqual(['UploadStarted', 'UploadFailed']);
    expect(events[1]?.data.reason).toContain('cancelled');
    expect((await head(operator, location)).status).toBe(410);
  });

  it('refuses more bytes than Upload-Length declared (413) and gives the upload up', async () => {
    const declared = randomBytes(1000);
    const created = await create(operator, declared.length, {
      filename: 'liar.bin',
      sha256: sha256(declared),
      agent: agentId,
    });
    const location = created.headers.get('location') ?? '';
    const uploadId = location.split('/').at(-1) ?? '';
    const answer = await patch(operator, location, 0, randomBytes(5000));
    expect(answer.status).toBe(413);
    expect(answer.headers.get('content-type')).toContain('application/problem+json');
    const events = (await uploadEvents()).filter((e) => e.data.uploadId === uploadId);
    expect(events.map((e) => e.type)).toEqual(['UploadStarted', 'UploadFailed']);
    expect(partials().filter((name) => name.startsWith(uploadId))).toEqual([]);
    expect(existsSync(join(agent.workDir, 'store', uploadId))).toBe(false);
  });

  it('refuses a file name that would leave the store (400 naming it) and appends nothing', async () => {
    const before = (await uploadEvents()).length;
    for (const filename of ['../../etc/passwd', 'a/b.img', '..', 'nul\u0000.img', 'back\\slash']) {
      const answer = await create(operator, 10, { filename, sha256: sha256(randomBytes(4)), agent: agentId });
      expect(answer.status).toBe(400);
      const problem = (await answer.json()) as LooseJson;
      expect(problem.errors).toEqual([expect.objectContaining({ path: 'header.upload-metadata.filename' })]);
    }
    const missing = await create(operator, 10, { filename: 'x.img' });
    expect(missing.status).toBe(400);
    expect(((await missing.json()) as LooseJson).errors.map((e: LooseJson) => e.path).sort()).toEqual([
      'header.upload-metadata.agent',
      'header.upload-metadata.sha256',
    ]);
    expect((await uploadEvents()).length).toBe(before);
  });

  it('keeps uploads to their tenant, uploader and role: another tenant 404, a member 403, another operator 404', async () => {
    const file = randomBytes(2000);
    const { location } = await openUpload(file, 'mine.bin');

    const stranger = await t.user({ role: 'admin' });
    expect((await head(stranger, location)).status).toBe(404);
    const foreign = await patch(stranger, location, 0, file);
    expect(foreign.status).toBe(404);
    expect(foreign.headers.get('content-type')).toContain('application/problem+json');
    // Another tenant cannot name this tenant's agent either.
    const foreignAgent = await create(stranger, 10, { filename: 'x', sha256: sha256(file), agent: agentId });
    expect(foreignAgent.status).toBe(404);

    const member = await t.user({ tenant: operator.tenantSlug, role: 'member' });
    expect((await create(member, 10, { filename: 'x', sha256: sha256(file), agent: agentId })).status).toBe(
      403,
    );
    expect((await patch(member, location, 0, file)).status).toBe(403);

    const otherOperator = await t.user({ tenant: operator.tenantSlug, role: 'operator' });
    expect((await patch(otherOperator, location, 0, file)).status).toBe(404);
    // The uploader's admin may carry on.
    expect((await patch(admin, location, 0, file)).status).toBe(204);

    // A stolen upload URL replayed without credentials is 401.
    const anonymous = await fetch(`${server.base}${location}`, {
      method: 'HEAD',
      headers: { 'x-tenant': operator.tenantSlug },
    });
    expect(anonymous.status).toBe(401);
  });

  it('has the agent refuse store calls unsigned, signed for another upload, replayed, or a JSON call over UNSIGNED-PAYLOAD (401), writing nothing', async () => {
    const key = decodeKey(
      (await agentKeys(t.database.db as Kysely<unknown>, t.identity.sealer).get(agentId)) ?? '',
    );
    const file = randomBytes(100);
    const { uploadId } = await openUpload(file, 'signed.bin');
    const target = `/v1/store/uploads/${uploadId}`;
    const part = join(agent.workDir, 'uploads', `${uploadId}.part`);
    const send = (headers: Record<string, string>) =>
      fetch(`${agent.url}${target}`, {
        method: 'PATCH',
        headers: { ...headers, 'upload-offset': '0', 'content-type': 'application/offset+octet-stream' },
        body: file,
      });
    expect((await send({})).status).toBe(401);
    const elsewhere = `/v1/store/uploads/${crypto.randomUUID()}`;
    expect(
      (
        await send(
          signatureHeaders(key, { method: 'PATCH', target: elsewhere, body: UNSIGNED_PAYLOAD }, new Date()),
        )
      ).status,
    ).toBe(401);
    expect(statSync(part).size).toBe(0);
    const good = signatureHeaders(key, { method: 'PATCH', target, body: UNSIGNED_PAYLOAD }, new Date());
    expect((await send(good)).status).toBe(200);
    expect((await send(good)).status).toBe(401);
    expect(statSync(part).size).toBe(100);
    // Only appends stream: a call that opens an upload must be signed over its body's digest.
    const declaration = JSON.stringify({
      id: crypto.randomUUID(),
      size: 1,
      sha256: sha256(file),
      file_name: 'x',
    });
    const open = await fetch(`${agent.url}/v1/store/uploads`, {
      method: 'POST',
      headers: {
        ...signatureHeaders(
          key,
          { method: 'POST', target: '/v1/store/uploads', body: UNSIGNED_PAYLOAD },
          new Date(),
        ),
        'content-type': 'application/json',
      },
      body: declaration,
    });
    expect(open.status).toBe(401);
  });

  it('refuses with 413 naming the quota an Upload-Length over the plan’s upload_bytes, before any byte is stored', async () => {
    await t.fixtures.change(tenantId, {
      type: 'OverrideLimits',
      limits: { uploadBytes: MB },
      by: 'root',
      at: new Date().toISOString(),
    });
    const before = (await uploadEvents()).length;
    const files = partials().length;
    const answer = await create(operator, MB + 1, {
      filename: 'big.img',
      sha256: sha256(randomBytes(1)),
      agent: agentId,
    });
    expect(answer.status).toBe(413);
    expect(await answer.json()).toMatchObject({ status: 413, quota: 'upload_bytes', limit: MB });
    expect((await uploadEvents()).length).toBe(before);
    expect(partials().length).toBe(files);
  });

  it('holds the sum of unfinished uploads under upload_bytes when many start at once', async () => {
    await t.fixtures.change(tenantId, {
      type: 'OverrideLimits',
      limits: { uploadBytes: 10 * MB },
      by: 'root',
      at: new Date().toISOString(),
    });
    // Earlier tests left unfinished uploads: count what they hold against the limit.
    const state = new Map<string, { size: number; open: boolean }>();
    for (const e of await uploadEvents()) {
      if (e.type === 'UploadStarted') state.set(e.data.uploadId, { size: e.data.size, open: true });
      else state.set(e.data.uploadId, { size: state.get(e.data.uploadId)?.size ?? 0, open: false });
    }
    const held = [...state.values()].filter((u) => u.open).reduce((sum, u) => sum + u.size, 0);
    const room = Math.floor((10 * MB - held) / (3 * MB));
    expect(room).toBeGreaterThanOrEqual(1);
    expect(room).toBeLessThan(8);
    const answers = await Promise.all(
      Array.from({ length: 8 }, (_, i) =>
        create(operator, 3 * MB, {
          filename: `flood-${i}.bin`,
          sha256: sha256(randomBytes(1)),
          agent: agentId,
        }),
      ),
    );
    const statuses = answers.map((a) => a.status).sort();
    expect(statuses.filter((s) => s === 201)).toHaveLength(room);
    expect(statuses.filter((s) => s === 413)).toHaveLength(8 - room);
    const started = (await uploadEvents()).filter(
      (e) => e.type === 'UploadStarted' && String(e.data.fileName).startsWith('flood-'),
    );
    expect(started).toHaveLength(room);
  });

  it('expires an upload whose agent stays silent through a whole expiry (one silent run alone expires nothing), freeing its quota', async () => {
    const file = randomBytes(64 * 1024);
    const { created, location, uploadId } = await openUpload(file, 'silent.bin');
    expect(created.status).toBe(201);
    expect((await patch(operator, location, 0, file.subarray(0, 1000))).status).toBe(204);
    const expiredHere = async () =>
      (await uploadEvents()).filter((e) => e.type === 'UploadExpired' && e.data.uploadId === uploadId);
    // A clock two minutes on: the upload has seen no byte for longer than the expiry.
    let now = Date.now() + 120_000;
    const expiry = uploadExpiry({
      store: t.store,
      keys: agentKeys(t.database.db as Kysely<unknown>, t.identity.sealer),
      clock: () => new Date(now),
      expiryMs: 60_000,
      askTimeoutMs: 1_000,
    });
    agent.signal('SIGSTOP');
    try {
      // The first run its agent does not answer: it may only be busy, so nothing expires.
      await expiry.sweep();
      expect(await expiredHere()).toHaveLength(0);
      // Still silent a whole expiry later: no byte can be arriving (every PATCH goes through it).
      now += 61_000;
      await expiry.sweep();
      expect(await expiredHere()).toHaveLength(1);
    } finally {
      agent.signal('SIGCONT');
    }
    // Its declared bytes count no longer; the upload itself answers 410.
    expect((await head(operator, location)).status).toBe(410);
  });
});
