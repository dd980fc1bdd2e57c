import { createHash, randomBytes } from 'node:crypto';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SignedInUser, TestApp } from '../support/app.ts';
import { startRelay } from '../support/relay.ts';
import type { RunningAgent } from './agent-support.ts';
import { tusRequests } from './tus-client.ts';
import { startUploadHost, stopUploadHost, type UploadHost } from './upload-host.ts';

/**
 * What Warden asks an agent's store per tus request. Warden reaches the real agent through a relay of
 * this test's that writes down each request's method and path and passes it on unchanged: an agent
 * may sit far away, and every call Warden makes there is a round trip the client waits for.
 */
describe('uploads: the calls Warden makes to the agent’s store', () => {
  let server: Awaited<ReturnType<TestApp['listening']>>;
  let operator: SignedInUser;
  let agentId: string;
  const calls: string[] = [];

  let host: UploadHost | undefined;

  beforeAll(async () => {
    host = await startUploadHost({
      name: 'far-host',
      via: (agentUrl: string) =>
        startRelay(agentUrl, (incoming) =>
          calls.push(`${incoming.method} ${new URL(incoming.url ?? '/', 'http://relay').pathname}`),
        ),
    });
    ({ server, operator, agentId } = host);
  }, 180_000);
  afterAll(() => stopUploadHost(host));

  /** The store calls made while `run` ran, with upload ids written as `{id}`. */
  const storeCallsOf = async <T>(run: () => Promise<T>) => {
    calls.length = 0;
    const result = await run();
    const made = calls
      .filter((call) => call.includes('/v1/store/'))
      .map((call) => call.replace(/[0-9a-f]{8}-[0-9a-f-]{27}/, '{id}'));
    return { result, made };
  };
  const tus = tusRequests(() => server.base);
  const create = (size: number, body?: Uint8Array<ArrayBuffer>) => {
    const sha256 = createHash('sha256').update(randomBytes(size)).digest('hex');
    return tus.create(operator, size, { filename: 'disk.img', sha256, agent: agentId }, body);
  };

  it('opens an upload with one call: the progress the open answered serves the creation’s Upload-Expires', async () => {
    const { result, made } = await storeCallsOf(() => create(1024));
    expect(result.status).toBe(201);
    // The upload expires a day after its last progress (the default), announced at once.
    expect(Date.parse(result.headers.get('upload-expires') ?? '')).toBeGreaterThan(
      Date.now() + 23 * 3600_000,
    );
    expect(made).toEqual(['POST /v1/store/uploads']);

    const location = result.headers.get('location') ?? '';
    const { result: head, made: asked } = await storeCallsOf(() => tus.head(operator, location));
    // A later request knows nothing of the open: it asks the agent where the upload is.
    expect(head.headers.get('upload-offset')).toBe('0');
    expect(asked).toEqual(['GET /v1/store/uploads/{id}']);
  });

  it('asks the agent again once a creation carries bytes: its answer names the offset they reached', async () => {
    const { result, made } = await storeCallsOf(() => create(4096, new Uint8Array(1000)));
    expect(result.status).toBe(201);
    expect(result.headers.get('upload-offset')).toBe('1000');
    expect(made).toEqual([
      'POST /v1/store/uploads',
      'PATCH /v1/store/uploads/{id}',
      'GET /v1/store/uploads/{id}',
    ]);
  });

  it('a PATCH makes one call, its append: the agent checks the offset there, so a wrong one is refused without another', async () => {
    const created = await create(4096);
    const location = created.headers.get('location') ?? '';
    const { result: first, made } = await storeCallsOf(() =>
      tus.patch(operator, location, 0, new Uint8Array(1000)),
    );
    expect(first.status).toBe(204);
    expect(first.headers.get('upload-offset')).toBe('1000');
    expect(made).toEqual(['PATCH /v1/store/uploads/{id}']);

    const { result: wrong, made: refused } = await storeCallsOf(() =>
      tus.patch(operator, location, 500, new Uint8Array(3596)),
    );
    expect(wrong.status).toBe(409);
    expect(((await wrong.json()) as { type: string; detail: string }).type).toContain(
      'upload-offset-mismatch',
    );
    expect(refused).toEqual(['PATCH /v1/store/uploads/{id}']);
    expect((await tus.head(operator, location)).headers.get('upload-offset')).toBe('1000');
  });
});

/**
 * With a PATCH no longer asking the agent where the upload is, the agent holds it to Warden's expiry
 * as it appends: an upload nothing reached for longer is gone (410), before the sweep records it.
 */
describe('uploads: an expired upload’s PATCH', () => {
  const EXPIRY_MS = 1500;
  let agent: RunningAgent;
  let server: Awaited<ReturnType<TestApp['listening']>>;
  let operator: SignedInUser;
  let agentId: string;

  let host: UploadHost | undefined;

  beforeAll(async () => {
    host = await startUploadHost({
      name: 'expiring',
      env: { WARDEN_UPLOAD_EXPIRY_MS: String(EXPIRY_MS) },
    });
    ({ agent, server, operator, agentId } = host);
  }, 180_000);
  afterAll(() => stopUploadHost(host));

  it('is refused 410 by the agent once nothing has arrived for the expiry, and appends nothing', async () => {
    const tus = tusRequests(() => server.base);
    const file = randomBytes(4096);
    const sha256 = createHash('sha256').update(file).digest('hex');
    const created = await tus.create(operator, file.length, { filename: 'idle.img', sha256, agent: agentId });
    expect(created.status).toBe(201);
    const location = created.headers.get('location') ?? '';
    const part = join(agent.workDir, 'uploads', `${location.split('/').at(-1)}.part`);
    // Within the expiry: taken, and the expiry counts again from now.
    expect((await tus.patch(operator, location, 0, file.subarray(0, 1000))).status).toBe(204);
    await new Promise((resolve) => setTimeout(resolve, EXPIRY_MS + 500));
    const late = await tus.patch(operator, location, 1000, file.subarray(1000));
    expect(late.status).toBe(410);
    expect(late.headers.get('content-type')).toContain('application/problem+json');
    expect(((await late.json()) as { type: string }).type).toContain('upload-gone');
    expect(statSync(part).size).toBe(1000);
  });
});
