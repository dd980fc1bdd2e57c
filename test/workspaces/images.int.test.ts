import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Worker } from '../../src/processes/runtime/index.ts';
import { agentClient, agentKeys } from '../../src/workspaces/index.ts';
import { type SignedInUser, type TestApp, testApp } from '../support/app.ts';
import { freshPGlite } from '../support/databases.ts';
import { type Dockerd, importBaseImage, startDockerd } from '../support/docker.ts';
import { rawTar } from '../support/raw-tar.ts';
import { startRegistry } from '../support/registry.ts';
import { provisioningWorkers, type RunningAgent, startAgent } from './agent-support.ts';

interface ImageBody {
  id: string;
  status: string;
  local_ref: string;
  pushed_ref: string | null;
  reason: string | null;
  pushes: Array<{ ref: string; digest: string | null }>;
}

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
    [t, registry] = await Promise.all([testApp(freshPGlite), startRegistry({ user: 'warden', password })]);
    http = await t.listening();
    worker = await provisioningWorkers(t);
    admin = await t.user({ role: 'admin' });
    operator = await t.user({ tenant: admin.tenantSlug, role: 'operator' });
    member = await t.user({ tenant: admin.tenantSlug, role: 'member' });
    let position = '0';
    for (const [i, agent] of agents.entries()) {
      const registered = await t.request('/v1/agents', {
        token: admin.token,
        tenant: admin.tenantSlug,
        json: {
          name: `builder-${i}`,
          url: agent.url,
          enrolment_token: agent.token,
          capacity: { cpus: 4, memory_mb: 4096, workspaces: 10 },
        },
      });
      expect(registered.status).toBe(201);
      agentIds.push(((await registered.json()) as { id: string }).id);
      position = registered.headers.get('x-position') ?? position;
    }
    await t.engine.waitFor(['workspaceAgentList'], BigInt(position), 30_000);
  }, 300_000);
  afterAll(async () => {
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

  it('pushes to the registry with the sealed credentials (the registry lists the tag)', async () => {
    const pushed = await as(operator, `/v1/images/${built.id}/push`, { method: 'POST' });
    const text = await pushed.text();
    expect(pushed.status, text).toBe(200);
    expect(text).not.toContain(password);
    const body = JSON.parse(text) as ImageBody;
    expect(body.pushed_ref).toBe(`${registry.host}/team/app:1`);
    expect(body.pushes[0]?.digest).toMatch(/^sha256:/);
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

  it('never writes the registry password to the log or the events', async () => {
    expect(t.lines.join('\n')).not.toContain(password);
    const all = await imagesStream();
    expect(JSON.stringify(all.map((e) => e.data))).not.toContain(password);
    for (const agent of agents) expect(agent.err()).not.toContain(password);
  }, 240_000);
});
