import { createHash, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type SignedInUser, type TestApp, testApp } from '../support/app.ts';
import { freshPGlite } from '../support/databases.ts';
import { type Dockerd, startDockerd } from '../support/docker.ts';
import { startRelay } from '../support/relay.ts';
import { type RunningAgent, registerAgentViaApi, startAgent } from './agent-support.ts';
import { tusRequests } from './tus-client.ts';

/**
 * What Warden asks an agent's store per tus request. Warden reaches the real agent through a relay of
 * this test's that writes down each request's method and path and passes it on unchanged: an agent
 * may sit far away, and every call Warden makes there is a round trip the client waits for.
 */
describe('uploads: the calls Warden makes to the agent’s store', () => {
  let t: TestApp;
  let daemon: Dockerd;
  let agent: RunningAgent;
  let relay: Awaited<ReturnType<typeof startRelay>>;
  let server: Awaited<ReturnType<TestApp['listening']>>;
  let operator: SignedInUser;
  let agentId: string;
  const calls: string[] = [];

  beforeAll(async () => {
    daemon = await startDockerd();
    [t, agent] = await Promise.all([testApp(freshPGlite), startAgent(daemon)]);
    relay = await startRelay(agent.url, (incoming) =>
      calls.push(`${incoming.method} ${new URL(incoming.url ?? '/', 'http://relay').pathname}`),
    );
    server = await t.listening();
    const tenant = await t.tenant();
    const admin = await t.user({ tenant: tenant.slug, role: 'admin' });
    operator = await t.user({ tenant: tenant.slug, role: 'operator' });
    const small = { cpus: 2, memory_mb: 1024, workspaces: 2 };
    agentId = (
      await registerAgentViaApi(
        t,
        admin,
        { url: relay.base, token: agent.token },
        { name: 'far-host', capacity: small },
      )
    ).id;
  }, 180_000);
  afterAll(async () => {
    await server?.close();
    await relay?.close();
    await agent?.dispose();
    await daemon?.stop();
    await t?.dispose();
  });

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
});
