import { type ChildProcess, spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { connect, createServer } from 'node:net';
import { join } from 'node:path';
import Docker from 'dockerode';
import type { Kysely } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startImageBuild } from '../../src/commands/workspaces/index.ts';
import type { JobTables, Worker } from '../../src/processes/runtime/index.ts';
import type { ImageBuildJobs } from '../../src/processes/workspaces/index.ts';
import { agentClient, agentKeys, deleteFromRegistry } from '../../src/workspaces/index.ts';
import { type SignedInUser, type TestApp, testApp } from '../support/app.ts';
import { freshPGlite } from '../support/databases.ts';
import { type Dockerd, importBaseImage, startDockerd } from '../support/docker.ts';
import { databaseUrl, freshPostgres } from '../support/postgres.ts';
import { rawTar } from '../support/raw-tar.ts';
import { startRegistry } from '../support/registry.ts';
import { sseFrames } from '../support/sse.ts';
import {
  imageJobsFor,
  provisioningWorkers,
  type RunningAgent,
  registerAgentViaApi,
  startAgent,
} from './agent-support.ts';

interface ImageBody {
  id: string;
  status: string;
  local_ref: string;
  pushed_ref: string | null;
  reason: string | null;
  context_bytes: number;
  pushes: Array<{ ref: string; digest: string | null; log: string | null; stream: string | null }>;
  push_failures: Array<{ ref: string; reason: string; log: string; stream: string }>;
  pushes_in_progress: Array<{ ref: string; by: string; at: string; log: string; stream: string }>;
}

/** The cap these tests run with (WARDEN_IMAGE_CONTEXT_MAX_BYTES): a 20 MiB context fits, 30 MiB does not. */
const CONTEXT_CAP = 24 * 1024 * 1024;
const randomBytes = (size: number) => {
  const bytes = new Uint8Array(size);
  for (let i = 0; i < size; i += 65_536) crypto.getRandomValues(bytes.subarray(i, i + 65_536));
  return bytes;
};

const dockerfileTar = (dockerfile: string) =>
  rawTar([
    { path: 'Dockerfile', content: dockerfile },
    { path: 'hello.txt', content: 'hello from the build context\n' },
  ]);

describe('images: build on an agent, push to the tenant registry, run the pushed image on the other agent', () => {
  const password = `s3cret-${crypto.randomUUID()}`;
  let t: TestApp;
  let http: { base: string; close: () => unknown };
  let daemons: Dockerd[] = [];
  let agents: RunningAgent[] = [];
  let registry: Awaited<ReturnType<typeof startRegistry>>;
  let worker: Worker;
  let imageJobs: ImageBuildJobs | undefined;
  let schema = '';
  const startImageJobs = () =>
    imageJobsFor(t, {
      // Out of the tests' reach: a running build hears its cancel announced, or not at all.
      cancelPollMs: 600_000,
    });
  let admin: SignedInUser;
  let operator: SignedInUser;
  let member: SignedInUser;
  let base: string;
  const agentIds: string[] = [];

  beforeAll(async () => {
    // Two daemons: the second never holds the base image, so running the pushed image there pulls it.
    daemons = await Promise.all([startDockerd(), startDockerd()]);
    const [first, second] = daemons as [Dockerd, Dockerd];
    base = await importBaseImage(first);
    // One agent at a time: each start compiles the CLI, and two at once on a loaded machine pass
    // the helper's minute.
    agents = [await startAgent(first)];
    agents.push(await startAgent(second));
    // On PostgreSQL (DATABASE_URL) a worker process can share the database: the SIGKILL case needs it.
    const fresh = databaseUrl
      ? async () => {
          const made = await freshPostgres();
          schema = (made.database as unknown as { schema: string }).schema;
          return made;
        }
      : freshPGlite;
    [t, registry] = await Promise.all([
      testApp(fresh, { env: { WARDEN_IMAGE_CONTEXT_MAX_BYTES: String(CONTEXT_CAP) } }),
      startRegistry({ user: 'warden', password }),
    ]);
    http = await t.listening();
    worker = await provisioningWorkers(t);
    imageJobs = startImageJobs();
    admin = await t.user({ role: 'admin' });
    operator = await t.user({ tenant: admin.tenantSlug, role: 'operator' });
    member = await t.user({ tenant: admin.tenantSlug, role: 'member' });
    for (const [i, agent] of agents.entries()) {
      agentIds.push(
        (await registerAgentViaApi(t, admin, agent, { name: `builder-${i}`, waitMs: 30_000 })).id,
      );
    }
  }, 300_000);
  afterAll(async () => {
    await imageJobs?.stop(1000);
    await worker?.stop();
    await http?.close();
    await Promise.all(agents.map((a) => a.dispose()));
    await registry?.stop();
    await Promise.all(daemons.map((d) => d.stop()));
    await t?.dispose();
  }, 120_000);

  const as = (user: SignedInUser, path: string, init: RequestInit & { json?: unknown } = {}) =>
    t.request(path, { token: user.token, tenant: user.tenantSlug, ...init });
  const build = (user: SignedInUser, query: string, body: Uint8Array) =>
    as(user, `/v1/images/builds?${query}`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-tar' },
      body: body as BodyInit,
    });
  const read = async (id: string) => (await (await as(admin, `/v1/images/${id}`)).json()) as ImageBody;
  /** The whole SSE text of a build (the stream ends with the final status). */
  const streamText = async (id: string, headers: Record<string, string> = {}) => {
    const answer = await fetch(`${http.base}/v1/images/${id}/stream`, {
      headers: { authorization: `Bearer ${operator.token}`, 'x-tenant': admin.tenantSlug, ...headers },
    });
    expect(answer.status).toBe(200);
    expect(answer.headers.get('content-type')).toContain('text/event-stream');
    return answer.text();
  };
  const imagesStream = () => t.store.readStream(`workspaces.Images-${admin.tenantId}`);

  let built: ImageBody;

  it('sets the registry: the password is sealed, never returned (password_set), and a member may not see it', async () => {
    expect(
      (await as(operator, '/v1/images/registry', { method: 'PUT', json: { url: registry.url } })).status,
    ).toBe(403);
    const set = await as(admin, '/v1/images/registry', {
      method: 'PUT',
      json: { url: registry.url, username: 'warden', password },
    });
    expect(set.status).toBe(200);
    const text = await set.text();
    expect(text).not.toContain(password);
    expect(JSON.parse(text)).toMatchObject({ host: registry.host, username: 'warden', password_set: true });
    const got = await as(operator, '/v1/images/registry');
    expect(got.status).toBe(200);
    expect(await got.text()).not.toContain(password);
    expect((await as(member, '/v1/images/registry')).status).toBe(403);
    const row = await (
      t.database.db as never as import('kysely').Kysely<{
        warden_image_registries: { password_sealed: string };
      }>
    )
      .selectFrom('warden_image_registries')
      .select('password_sealed')
      .executeTakeFirstOrThrow();
    expect(row.password_sealed.startsWith('v1.')).toBe(true);
    expect(row.password_sealed).not.toContain(password);
  }, 240_000);

  it('refuses a body that is not a tar (422), a member (403) and another tenant’s agent (404), appending nothing', async () => {
    const before = (await imagesStream()).length;
    const notTar = await build(
      operator,
      `agent_id=${agentIds[0]}&name=team/app`,
      new TextEncoder().encode('FROM scratch\n'.repeat(60)),
    );
    expect(notTar.status).toBe(422);
    expect(notTar.headers.get('content-type')).toContain('application/problem+json');
    const badName = await build(
      operator,
      `agent_id=${agentIds[0]}&name=Team App`,
      dockerfileTar(`FROM ${base}\n`),
    );
    expect(badName.status).toBe(400);
    expect(
      (await build(member, `agent_id=${agentIds[0]}&name=team/app`, dockerfileTar(`FROM ${base}\n`))).status,
    ).toBe(403);
    const stranger = await t.user({ role: 'admin' });
    const foreign = await build(
      stranger,
      `agent_id=${agentIds[0]}&name=team/app`,
      dockerfileTar(`FROM ${base}\n`),
    );
    expect(foreign.status).toBe(404);
    expect((await imagesStream()).length).toBe(before);
  }, 240_000);

  it('builds FROM the local base image on the first agent, its output streamed as SSE frames (resumable), then built', async () => {
    const answer = await build(
      operator,
      `agent_id=${agentIds[0]}&name=team/app&tag=1`,
      dockerfileTar(
        `FROM ${base}\nCOPY hello.txt /www/hello.txt\nRUN echo build-step-marker && cat /www/hello.txt\n`,
      ),
    );
    expect(answer.status).toBe(202);
    const started = (await answer.json()) as ImageBody;
    expect(started).toMatchObject({ status: 'building', local_ref: 'team/app:1' });
    const sse = await streamText(started.id);
    expect(sse).toContain('event: stdout');
    expect(sse).toContain('build-step-marker');
    expect(sse).toContain('hello from the build context');
    expect(sse).toMatch(/event: status\ndata: .*completed/);
    // Resuming after the first frame gives the rest, without it.
    const resumed = await streamText(started.id, { 'last-event-id': '1' });
    expect(resumed).not.toMatch(/^id: 1\n/m);
    expect(resumed).toContain('completed');
    await expect.poll(async () => (await read(started.id)).status, { timeout: 60_000 }).toBe('built');
    built = await read(started.id);
    const log = await as(operator, `/v1/images/${started.id}/log`);
    expect(await log.text()).toContain('build-step-marker');
    const listed = (await (await as(operator, '/v1/images')).json()) as { items: ImageBody[] };
    expect(listed.items.map((i) => i.id)).toContain(started.id);
    const stranger = await t.user({ role: 'admin' });
    expect((await as(stranger, `/v1/images/${started.id}`)).status).toBe(404);
    expect((await as(member, `/v1/images/${started.id}`)).status).toBe(403);
  }, 240_000);

  it('a failing step fails the build, with the reason in the image and its output', async () => {
    const answer = await build(
      operator,
      `agent_id=${agentIds[0]}&name=team/broken`,
      dockerfileTar(`FROM ${base}\nRUN echo about-to-fail && exit 3\n`),
    );
    expect(answer.status).toBe(202);
    const { id } = (await answer.json()) as ImageBody;
    const sse = await streamText(id);
    expect(sse).toContain('about-to-fail');
    expect(sse).toMatch(/event: status\ndata: .*failed/);
    await expect.poll(async () => (await read(id)).status, { timeout: 60_000 }).toBe('failed');
    expect((await read(id)).reason).toBeTruthy();
    // Deleting is an admin's: an operator is refused, an admin deletes it.
    expect((await as(operator, `/v1/images/${id}`, { method: 'DELETE' })).status).toBe(403);
    expect((await as(admin, `/v1/images/${id}`, { method: 'DELETE' })).status).toBe(204);
    expect((await as(admin, `/v1/images/${id}`)).status).toBe(404);
  }, 240_000);

  const stagedContexts = (agent: RunningAgent) => {
    try {
      return readdirSync(join(agent.workDir, 'contexts'));
    } catch {
      return [];
    }
  };
  const first = () => agents[0] as RunningAgent;

  it('streams a 20 MiB context through to the agent (hashed on the way) and builds it; the staged context is removed after', async () => {
    const answer = await build(
      operator,
      `agent_id=${agentIds[0]}&name=team/large`,
      rawTar([
        { path: 'Dockerfile', content: `FROM ${base}\nCOPY blob.bin /blob.bin\nRUN wc -c /blob.bin\n` },
        { path: 'blob.bin', content: randomBytes(20 * 1024 * 1024) },
      ]),
    );
    expect(answer.status, await answer.clone().text()).toBe(202);
    const started = (await answer.json()) as ImageBody;
    expect(started.context_bytes).toBeGreaterThan(20 * 1024 * 1024);
    await expect.poll(async () => (await read(started.id)).status, { timeout: 120_000 }).toBe('built');
    expect(await (await as(operator, `/v1/images/${started.id}/log`)).text()).toContain('20971520');
    await expect.poll(() => stagedContexts(first()), { timeout: 10_000 }).toEqual([]);
  }, 240_000);

  it('cuts off a context over WARDEN_IMAGE_CONTEXT_MAX_BYTES with 413, staging and appending nothing', async () => {
    const before = (await imagesStream()).length;
    const oversize = await build(
      operator,
      `agent_id=${agentIds[0]}&name=team/huge`,
      rawTar([
        { path: 'Dockerfile', content: `FROM ${base}\n` },
        { path: 'blob.bin', content: randomBytes(30 * 1024 * 1024) },
      ]),
    );
    expect(oversize.status).toBe(413);
    expect(oversize.headers.get('content-type')).toContain('application/problem+json');
    // Without a declared length the body streams until it passes the cap, then is cut off. Only a
    // little more than the cap: the rest of a refused body is discarded, and a client still sending
    // much more when the server gives up reading (the listener drains 0.5 s) sees its connection reset.
    const blob = rawTar([
      { path: 'Dockerfile', content: `FROM ${base}\n` },
      { path: 'blob.bin', content: randomBytes(CONTEXT_CAP + 256 * 1024) },
    ]);
    // Its own connection (the server closes it after the 413, with the body unread): chunked, no length.
    const streamed = await new Promise<{ status: number; type: string }>((resolve, reject) => {
      const req = httpRequest(
        `${http.base}/v1/images/builds?agent_id=${agentIds[0]}&name=team/huge`,
        {
          method: 'POST',
          agent: false,
          headers: {
            authorization: `Bearer ${operator.token}`,
            'x-tenant': admin.tenantSlug,
            'content-type': 'application/x-tar',
          },
        },
        (res) => {
          res.resume();
          resolve({ status: res.statusCode ?? 0, type: String(res.headers['content-type']) });
        },
      );
      req.on('error', reject);
      let sent = 0;
      const write = () => {
        while (sent < blob.length) {
          const more = req.write(blob.subarray(sent, sent + 1024 * 1024));
          sent += 1024 * 1024;
          if (!more) return void req.once('drain', write);
        }
        req.end();
      };
      write();
    });
    expect(streamed.status).toBe(413);
    expect(streamed.type).toContain('application/problem+json');
    expect((await imagesStream()).length).toBe(before);
    await expect.poll(() => stagedContexts(first()), { timeout: 10_000 }).toEqual([]);
  }, 240_000);

  it('cancels a running build: the agent stops the engine’s build, the image ends cancelled with its output kept; only operators of the tenant may, and only while it builds', async () => {
    const answer = await build(
      operator,
      `agent_id=${agentIds[0]}&name=team/sleepy`,
      dockerfileTar(`FROM ${base}\nRUN echo sleeping-now && sleep 30\n`),
    );
    expect(answer.status).toBe(202);
    const { id, local_ref } = (await answer.json()) as ImageBody;
    await expect
      .poll(async () => await (await as(operator, `/v1/images/${id}/log`)).text(), { timeout: 60_000 })
      .toContain('sleeping-now');
    // The classic builder runs the step in a container of its own: there while the step sleeps.
    const docker = new Docker({ socketPath: (daemons[0] as Dockerd).socket });
    const sleeping = async () =>
      (await docker.listContainers({ all: true })).filter((c) => c.Command.includes('sleep 30')).length;
    await expect.poll(sleeping, { timeout: 15_000, interval: 250 }).toBe(1);
    const before = (await imagesStream()).length;
    const stranger = await t.user({ role: 'admin' });
    expect((await as(stranger, `/v1/images/${id}/cancel`, { method: 'POST' })).status).toBe(404);
    expect((await as(member, `/v1/images/${id}/cancel`, { method: 'POST' })).status).toBe(403);
    expect((await imagesStream()).length).toBe(before);
    const cancelling = Date.now();
    const cancelled = await as(operator, `/v1/images/${id}/cancel`, { method: 'POST' });
    expect(cancelled.status, await cancelled.clone().text()).toBe(200);
    expect(((await cancelled.json()) as ImageBody).status).toBe('cancelled');
    const sse = await streamText(id);
    expect(sse).toContain('sleeping-now');
    expect(sse).toMatch(/event: status\ndata: .*cancelled/);
    // Stopped by the cancel, not by the step's end: the worker heard it (its poll is out of reach).
    expect(Date.now() - cancelling).toBeLessThan(15_000);
    // The engine's build stopped: its step's container is gone well before the 30 s sleep ends.
    await expect.poll(sleeping, { timeout: 15_000, interval: 250 }).toBe(0);
    const keys = agentKeys(t.database.db as never, t.identity.sealer);
    const agent = agentClient({ url: first().url, key: (await keys.get(agentIds[0] ?? '')) ?? '' });
    expect(await agent.image(local_ref)).toBeUndefined();
    expect((await read(id)).status).toBe('cancelled');
    expect(await (await as(operator, `/v1/images/${id}/log`)).text()).toContain('sleeping-now');
    // Over: cancelling it again, or cancelling a built image, is refused.
    expect((await as(operator, `/v1/images/${id}/cancel`, { method: 'POST' })).status).toBe(409);
    const refused = await as(operator, `/v1/images/${built.id}/cancel`, { method: 'POST' });
    expect(refused.status).toBe(409);
    expect(refused.headers.get('content-type')).toContain('application/problem+json');
    expect((await read(built.id)).status).toBe('built');
  }, 240_000);

  it('a queued build cancelled never starts; a build whose worker died after starting it ends failed (interrupted), never built twice', async () => {
    // No worker runs builds for now: both wait queued.
    await imageJobs?.stop(1000);
    imageJobs = undefined;
    const queue = async (name: string) => {
      const answer = await build(
        operator,
        `agent_id=${agentIds[0]}&name=${name}`,
        dockerfileTar(`FROM ${base}\nRUN echo ${name.replace('/', '-')}-ran\n`),
      );
      expect(answer.status).toBe(202);
      return ((await answer.json()) as ImageBody).id;
    };
    const queued = await queue('team/queued');
    const orphan = await queue('team/orphan');
    const cancelled = await as(operator, `/v1/images/${queued}/cancel`, { method: 'POST' });
    expect(cancelled.status).toBe(200);
    expect(await streamText(queued)).toMatch(/event: status\ndata: .*cancelled/);
    // A worker recorded the orphan's start, then died (its lease lapsed, the job is claimable again).
    await startImageBuild(
      t.store,
      { tenantId: admin.tenantId, imageId: orphan, worker: 'worker-that-died', at: new Date().toISOString() },
      { metadata: { tenantId: admin.tenantId, actorId: 'worker:worker-that-died' } },
    );
    imageJobs = startImageJobs();
    await expect.poll(async () => (await read(orphan)).status, { timeout: 60_000 }).toBe('failed');
    expect((await read(orphan)).reason).toMatch(/interrupted.*worker-that-died/);
    expect(await streamText(orphan)).toMatch(/event: status\ndata: .*failed/);
    expect(await (await as(operator, `/v1/images/${orphan}/log`)).text()).not.toContain('team-orphan-ran');
    expect((await read(queued)).status).toBe('cancelled');
    expect(await (await as(operator, `/v1/images/${queued}/log`)).text()).not.toContain('team-queued-ran');
    // Neither job left its staged context behind.
    await expect.poll(() => stagedContexts(first()), { timeout: 15_000 }).toEqual([]);
  }, 240_000);

  it('a build queued by an earlier Warden (its job names only the image, not its agent) still builds on the image’s agent', async () => {
    await imageJobs?.stop(1000);
    imageJobs = undefined;
    const answer = await build(
      operator,
      `agent_id=${agentIds[0]}&name=team/earlier`,
      dockerfileTar(`FROM ${base}\nRUN echo earlier-ran\n`),
    );
    expect(answer.status).toBe(202);
    const { id } = (await answer.json()) as ImageBody;
    const db = t.database.db as unknown as Kysely<JobTables>;
    const job = await db
      .selectFrom('warden_jobs')
      .select('payload')
      .where('id', '=', id)
      .executeTakeFirstOrThrow();
    expect(job.payload).toEqual({ imageId: id, agentId: agentIds[0] });
    await db
      .updateTable('warden_jobs')
      .set({ payload: JSON.stringify({ imageId: id }) })
      .where('id', '=', id)
      .execute();
    imageJobs = startImageJobs();
    await expect.poll(async () => (await read(id)).status, { timeout: 60_000 }).toBe('built');
    expect(await (await as(operator, `/v1/images/${id}/log`)).text()).toContain('earlier-ran');
  }, 120_000);

  it('a worker stopping mid-build aborts it: the image ends failed (interrupted), the engine’s build stopped', async () => {
    const answer = await build(
      operator,
      `agent_id=${agentIds[0]}&name=team/stopped`,
      dockerfileTar(`FROM ${base}\nRUN echo stopping-soon && sleep 30\n`),
    );
    const { id, local_ref } = (await answer.json()) as ImageBody;
    await expect
      .poll(async () => await (await as(operator, `/v1/images/${id}/log`)).text(), { timeout: 60_000 })
      .toContain('stopping-soon');
    // No grace: the running build is aborted at once.
    await imageJobs?.stop(0);
    imageJobs = startImageJobs();
    await expect.poll(async () => (await read(id)).status, { timeout: 30_000 }).toBe('failed');
    expect((await read(id)).reason).toMatch(/interrupted: the worker stopped/);
    expect(await streamText(id)).toMatch(/event: status\ndata: .*interrupted/);
    const docker = new Docker({ socketPath: (daemons[0] as Dockerd).socket });
    await expect
      .poll(
        async () =>
          (await docker.listContainers({ all: true })).filter((c) => c.Command.includes('sleep 30')).length,
        { timeout: 15_000, interval: 250 },
      )
      .toBe(0);
    const keys = agentKeys(t.database.db as never, t.identity.sealer);
    const agent = agentClient({ url: first().url, key: (await keys.get(agentIds[0] ?? '')) ?? '' });
    expect(await agent.image(local_ref)).toBeUndefined();
  }, 240_000);

  it.runIf(databaseUrl)(
    'a worker SIGKILLed mid-build: once its lease lapses another worker records the build failed (interrupted), the agent stops the engine’s build',
    async () => {
      await imageJobs?.stop(1000);
      imageJobs = undefined;
      const child: ChildProcess = spawn(
        process.execPath,
        ['--import', 'tsx', join(import.meta.dirname, 'fixtures', 'image-worker.ts')],
        {
          env: {
            ...process.env,
            DATABASE_URL: databaseUrl,
            WARDEN_TEST_SCHEMA: schema,
            WORKER_ID: 'doomed-worker',
            WARDEN_KEY_ENCRYPTION_KEY: t.keyEncryptionKeyText,
          },
          stdio: ['ignore', 'pipe', 'inherit'],
        },
      );
      try {
        await new Promise<void>((resolve, reject) => {
          child.stdout?.on('data', (chunk: Buffer) => {
            if (chunk.toString().includes('started')) resolve();
          });
          child.once('exit', (code) => reject(new Error(`the image worker exited (${code})`)));
        });
        const answer = await build(
          operator,
          `agent_id=${agentIds[0]}&name=team/doomed`,
          dockerfileTar(`FROM ${base}\nRUN echo doomed-sleeping && sleep 30\n`),
        );
        expect(answer.status).toBe(202);
        const { id, local_ref } = (await answer.json()) as ImageBody;
        await expect
          .poll(async () => await (await as(operator, `/v1/images/${id}/log`)).text(), { timeout: 60_000 })
          .toContain('doomed-sleeping');
        const exited = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGKILL');
        await exited;
        // The agent saw its client go: the step's container goes long before the sleep ends.
        const docker = new Docker({ socketPath: (daemons[0] as Dockerd).socket });
        await expect
          .poll(
            async () =>
              (await docker.listContainers({ all: true })).filter((c) => c.Command.includes('sleep 30'))
                .length,
            { timeout: 15_000, interval: 250 },
          )
          .toBe(0);
        expect((await read(id)).status).toBe('building');
        imageJobs = startImageJobs();
        await expect.poll(async () => (await read(id)).status, { timeout: 30_000 }).toBe('failed');
        expect((await read(id)).reason).toMatch(/interrupted.*doomed-worker/);
        expect(await streamText(id)).toMatch(/event: status\ndata: .*failed/);
        const keys = agentKeys(t.database.db as never, t.identity.sealer);
        const agent = agentClient({ url: first().url, key: (await keys.get(agentIds[0] ?? '')) ?? '' });
        expect(await agent.image(local_ref)).toBeUndefined();
        const started = (await imagesStream()).filter(
          (e) => e.type === 'ImageBuildStarted' && (e.data as { imageId: string }).imageId === id,
        );
        expect(started).toHaveLength(1);
      } finally {
        if (child.exitCode === null) child.kill('SIGKILL');
        imageJobs ??= startImageJobs();
      }
    },
    240_000,
  );

  it('pushes to the registry with the sealed credentials (the registry lists the tag)', async () => {
    const pushed = await as(operator, `/v1/images/${built.id}/push`, { method: 'POST' });
    const text = await pushed.text();
    expect(pushed.status, text).toBe(200);
    expect(text).not.toContain(password);
    const body = JSON.parse(text) as ImageBody;
    expect(body.pushed_ref).toBe(`${registry.host}/team/app:1`);
    expect(body.pushes[0]?.digest).toMatch(/^sha256:/);
    // The push's lines are kept: its record links to them.
    const pushLog = await as(operator, body.pushes[0]?.log ?? '');
    expect(pushLog.status).toBe(200);
    expect(await pushLog.text()).toMatch(/Pushed|digest/);
    expect(await registry.tags('team/app')).toEqual({ status: 200, body: { name: 'team/app', tags: ['1'] } });
    built = body;
  }, 240_000);

  it('provisions a workspace from the pushed ref on the second agent, which pulls it; deleting the image is refused while it runs', async () => {
    const keys = agentKeys(t.database.db as never, t.identity.sealer);
    const second = agentClient({ url: agents[1]?.url ?? '', key: (await keys.get(agentIds[1] ?? '')) ?? '' });
    // The second daemon has neither the image nor its base.
    expect(await second.image(built.pushed_ref ?? '')).toBeUndefined();
    expect(await second.image(base)).toBeUndefined();
    const owner = await t.user({ tenant: admin.tenantSlug, role: 'member' });
    const answer = await as(admin, '/v1/workspaces', {
      json: { image: built.pushed_ref, user_id: owner.userId, agent_id: agentIds[1] },
    });
    expect(answer.status, await answer.clone().text()).toBe(202);
    const { id } = (await answer.json()) as { id: string };
    await expect
      .poll(
        async () => ((await (await as(admin, `/v1/workspaces/${id}`)).json()) as { status: string }).status,
        { timeout: 120_000, interval: 250 },
      )
      .toBe('ready');
    expect(await second.image(built.pushed_ref ?? '')).toMatchObject({ tags: [built.pushed_ref] });
    const refused = await as(admin, `/v1/images/${built.id}`, { method: 'DELETE' });
    expect(refused.status).toBe(409);
    expect(await refused.text()).toContain(id);
    expect((await read(built.id)).status).toBe('built');
  }, 240_000);

  it('deleting a pushed image removes it from the registry too (HTTP API v2 with the sealed credentials)', async () => {
    const answer = await build(
      operator,
      `agent_id=${agentIds[0]}&name=team/gone&tag=2`,
      dockerfileTar(`FROM ${base}\nCOPY hello.txt /www/gone.txt\n`),
    );
    const { id } = (await answer.json()) as ImageBody;
    await expect.poll(async () => (await read(id)).status, { timeout: 60_000 }).toBe('built');
    expect((await as(operator, `/v1/images/${id}/push`, { method: 'POST' })).status).toBe(200);
    expect(await registry.manifest('team/gone', '2')).toBe(200);
    const deleted = await as(admin, `/v1/images/${id}`, { method: 'DELETE' });
    expect(deleted.status).toBe(204);
    expect(deleted.headers.get('x-registry-deletion')).toBe('removed');
    expect(await registry.manifest('team/gone', '2')).toBe(404);
    const events = await imagesStream();
    expect(
      events.find((e) => e.type === 'ImageDeleted' && (e.data as { imageId: string }).imageId === id)?.data,
    ).toMatchObject({ registry: 'removed' });
  }, 240_000);

  it('a registry that refuses deletion (405, deletion disabled) keeps the image: reported as kept, never thrown', async () => {
    const strict = await startRegistry(undefined, { deleteEnabled: false });
    try {
      const docker = new Docker({ socketPath: (daemons[0] as Dockerd).socket });
      const ref = `${strict.host}/team/app`;
      await docker.getImage('team/app:1').tag({ repo: ref, tag: '1' });
      const stream = await docker.getImage(`${ref}:1`).push({ authconfig: {} as never });
      await new Promise((resolve, reject) =>
        docker.modem.followProgress(stream, (error: Error | null) =>
          error ? reject(error) : resolve(undefined),
        ),
      );
      expect(await strict.manifest('team/app', '1')).toBe(200);
      const outcome = await deleteFromRegistry(
        { url: strict.url, username: '', password: '' },
        'team/app',
        '1',
      );
      expect(outcome).toMatchObject({ outcome: 'kept' });
      expect(outcome.detail).toContain('405');
      expect(await strict.manifest('team/app', '1')).toBe(200);
    } finally {
      await strict.stop();
    }
  }, 240_000);

  it('records a refused push with the registry’s reason and keeps its log (502 image-push-failed)', async () => {
    const set = (secret: string) =>
      as(admin, '/v1/images/registry', {
        method: 'PUT',
        json: { url: registry.url, username: 'warden', password: secret },
      });
    expect((await set(`wrong-${crypto.randomUUID()}`)).status).toBe(200);
    try {
      const refused = await as(operator, `/v1/images/${built.id}/push`, { method: 'POST' });
      expect(refused.status).toBe(502);
      expect(refused.headers.get('content-type')).toContain('application/problem+json');
      const image = await read(built.id);
      const failure = image.push_failures[image.push_failures.length - 1];
      expect(failure?.reason).toBeTruthy();
      const log = await as(operator, failure?.log ?? '');
      expect(log.status).toBe(200);
      expect(await log.text()).toContain(failure?.reason ?? '-');
      const stranger = await t.user({ role: 'admin' });
      expect((await as(stranger, failure?.log ?? '')).status).toBe(404);
      // Followed, the same refusal is the stream's final status, and recorded the same way.
      const followed = await as(operator, `/v1/images/${built.id}/push`, {
        method: 'POST',
        headers: { accept: 'text/event-stream' },
      });
      expect(followed.status).toBe(200);
      const statuses = [...(await followed.text()).matchAll(/^event: status\ndata: (.*)$/gm)].map(
        (m) =>
          JSON.parse((JSON.parse(m[1]!) as { data: string }).data) as { status: string; reason?: string },
      );
      expect(statuses).toHaveLength(1);
      expect(statuses[0]).toMatchObject({ status: 'failed', reason: expect.stringContaining('pushing') });
      expect((await read(built.id)).push_failures).toHaveLength(image.push_failures.length + 1);
      // Another tenant cannot follow (or start) a push of this image.
      expect(
        (
          await as(stranger, `/v1/images/${built.id}/push`, {
            method: 'POST',
            headers: { accept: 'text/event-stream' },
          })
        ).status,
      ).toBe(404);
    } finally {
      expect((await set(password)).status).toBe(200);
    }
  }, 240_000);

  /**
   * A gate in front of the registry, made the tenant's registry: connections wait there until it
   * opens, so a push is held after the engine's first lines and before the registry answers.
   * `closeGate` opens it, closes it and sets the registry back.
   */
  const registryGate = async () => {
    const waiting: (() => void)[] = [];
    let open = false;
    const registryPort = Number(new URL(registry.url).port);
    const gate = createServer((client) => {
      const through = () => {
        const upstream = connect(registryPort, '127.0.0.1');
        client.pipe(upstream).pipe(client);
        upstream.on('error', () => client.destroy());
        client.on('error', () => upstream.destroy());
      };
      if (open) through();
      else waiting.push(through);
    });
    await new Promise<void>((resolve) => gate.listen(0, '127.0.0.1', resolve));
    const gatePort = (gate.address() as { port: number }).port;
    const setRegistry = (url: string) =>
      as(admin, '/v1/images/registry', { method: 'PUT', json: { url, username: 'warden', password } });
    expect((await setRegistry(`http://127.0.0.1:${gatePort}`)).status).toBe(200);
    const openGate = () => {
      open = true;
      for (const through of waiting.splice(0)) through();
    };
    const closeGate = async () => {
      openGate();
      gate.close();
      expect((await setRegistry(registry.url)).status).toBe(200);
    };
    return { gatePort, openGate, closeGate };
  };

  it('follows a push as it goes (Accept: text/event-stream): its lines arrive while it is held at the registry, then its final status; the outcome is recorded as without the stream', async () => {
    const { gatePort, openGate, closeGate } = await registryGate();
    try {
      const before = (await read(built.id)).pushes.length;
      const answer = await fetch(`${http.base}/v1/images/${built.id}/push`, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${operator.token}`,
          'x-tenant': admin.tenantSlug,
          accept: 'text/event-stream',
        },
      });
      expect(answer.status).toBe(200);
      expect(answer.headers.get('content-type')).toContain('text/event-stream');
      const reader = answer.body!.pipeThrough(new TextDecoderStream()).getReader();
      let text = '';
      const frames = () => sseFrames(text);
      // Without streaming, no line would come before the registry answers, which it cannot yet.
      const held = AbortSignal.timeout(60_000);
      while (!frames().some((f) => f.kind === 'stdout' && /push refers to/.test(f.data))) {
        const { done, value } = await Promise.race([
          reader.read(),
          new Promise<never>((_, reject) =>
            held.addEventListener('abort', () => reject(new Error(`no line while held: ${text}`))),
          ),
        ]);
        if (done) throw new Error(`the stream ended early: ${text}`);
        text += value;
      }
      // The registry has not answered (the engine waits at the gate, or has yet to reach it): nothing
      // is recorded yet, and the stream has no final status.
      expect((await read(built.id)).pushes.length).toBe(before);
      expect(frames().some((f) => f.kind === 'status')).toBe(false);
      openGate();
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        text += value;
      }
      const last = frames().at(-1);
      expect(last?.kind).toBe('status');
      const ref = `127.0.0.1:${gatePort}/team/app:1`;
      expect(JSON.parse(last?.data ?? '{}')).toMatchObject({
        status: 'completed',
        ref,
        digest: expect.stringMatching(/^sha256:/),
      });
      const image = await read(built.id);
      expect(image.pushes.length).toBe(before + 1);
      // X-Push-Id, sent with the stream's first byte, names the push its entry links the log of.
      expect(image.pushes.at(-1)).toMatchObject({
        ref,
        log: `/v1/images/${built.id}/pushes/${answer.headers.get('x-push-id')}/log`,
      });
      // The log the record links to holds the lines the stream carried.
      const log = await (await as(operator, image.pushes.at(-1)?.log ?? '')).text();
      expect(log).toMatch(/push refers to/);
      expect(text).not.toContain(password);
    } finally {
      await closeGate();
    }
  }, 240_000);

  it('a push under way is listed with its stream; a client that lost it follows it again from its Last-Event-ID to the final status; only the tenant’s operators may', async () => {
    // The registry behind the gate again: the push is held after its first lines.
    const { gatePort, openGate, closeGate } = await registryGate();
    const follow = (path: string, headers: Record<string, string> = {}, init: RequestInit = {}) =>
      fetch(`${http.base}${path}`, {
        ...init,
        headers: {
          authorization: `Bearer ${operator.token}`,
          'x-tenant': admin.tenantSlug,
          accept: 'text/event-stream',
          ...headers,
        },
      });
    try {
      const first = new AbortController();
      const answer = await follow(
        `/v1/images/${built.id}/push`,
        {},
        { method: 'POST', signal: first.signal },
      );
      expect(answer.status).toBe(200);
      const pushId = answer.headers.get('x-push-id') ?? '';
      const reader = answer.body!.pipeThrough(new TextDecoderStream()).getReader();
      let text = '';
      while (!sseFrames(text).some((f) => f.kind === 'stdout' && /push refers to/.test(f.data))) {
        const { done, value } = await reader.read();
        if (done) throw new Error(`the stream ended early: ${text}`);
        text += value;
      }
      // Under way: the image lists it, with where to follow it.
      const going = (await read(built.id)).pushes_in_progress;
      const stream = `/v1/images/${built.id}/pushes/${pushId}/stream`;
      expect(going).toEqual([
        expect.objectContaining({
          ref: `127.0.0.1:${gatePort}/team/app:1`,
          stream,
          log: `/v1/images/${built.id}/pushes/${pushId}/log`,
        }),
      ]);
      // The client goes away (the push goes on), having seen frames up to `seen`.
      const seen = sseFrames(text).at(-1)!.id;
      first.abort();
      await reader.cancel().catch(() => undefined);

      // Not another tenant's, not a member's, not a push of another id.
      const stranger = await t.user({ role: 'admin' });
      const strangers = await fetch(`${http.base}${stream}`, {
        headers: { authorization: `Bearer ${stranger.token}`, 'x-tenant': stranger.tenantSlug },
      });
      expect(strangers.status).toBe(404);
      expect((await as(member, stream)).status).toBe(403);
      expect((await follow(`/v1/images/${built.id}/pushes/${crypto.randomUUID()}/stream`)).status).toBe(404);

      // Followed again from what it saw: only the frames after, then the end once the registry answers.
      const again = await follow(stream, { 'last-event-id': String(seen) });
      expect(again.status).toBe(200);
      expect(again.headers.get('content-type')).toContain('text/event-stream');
      openGate();
      const rest = sseFrames(await again.text());
      expect(rest.length).toBeGreaterThan(0);
      expect(rest.every((f) => f.id > seen)).toBe(true);
      expect(rest.at(-1)).toMatchObject({ kind: 'status' });
      expect(JSON.parse(rest.at(-1)!.data)).toMatchObject({ status: 'completed' });

      // Ended: no longer under way; its stream replays from the start to the same final status.
      const image = await read(built.id);
      expect(image.pushes_in_progress).toEqual([]);
      expect(image.pushes.at(-1)).toMatchObject({ stream });
      const replay = sseFrames(await (await follow(stream)).text());
      expect(replay.map((f) => f.id)).toEqual([...sseFrames(text), ...rest].map((f) => f.id));
      expect(replay.at(-1)).toEqual(rest.at(-1));
    } finally {
      await closeGate();
    }
  }, 240_000);

  it('the agent still answers a push asked without NDJSON (an earlier Warden) with one JSON answer at the end, its lines in it', async () => {
    const keys = agentKeys(t.database.db as never, t.identity.sealer);
    const agent = agentClient({ url: first().url, key: (await keys.get(agentIds[0] ?? '')) ?? '' });
    const answer = await agent.call('POST', '/v1/images/push', {
      source: built.local_ref,
      target: `${registry.host}/team/app:earlier`,
      auth: { username: 'warden', password, server_address: registry.host },
    });
    expect(answer.status).toBe(200);
    expect(answer.headers.get('content-type')).toContain('application/json');
    const body = (await answer.json()) as { target: string; digest: string | null; output: string };
    expect(body.digest).toMatch(/^sha256:/);
    expect(body.output).toMatch(/push refers to/);
    expect(await registry.manifest('team/app', 'earlier')).toBe(200);
  }, 240_000);

  it('never writes the registry password to the log or the events', async () => {
    expect(t.lines.join('\n')).not.toContain(password);
    const all = await imagesStream();
    expect(JSON.stringify(all.map((e) => e.data))).not.toContain(password);
    for (const agent of agents) expect(agent.err()).not.toContain(password);
  }, 240_000);
});
