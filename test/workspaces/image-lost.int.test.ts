import { createServer, request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import Docker from 'dockerode';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ImageBuildJobs } from '../../src/processes/workspaces/index.ts';
import { type SignedInUser, type TestApp, testApp } from '../support/app.ts';
import { freshPGlite } from '../support/databases.ts';
import { type Dockerd, importBaseImage, startDockerd } from '../support/docker.ts';
import { rawTar } from '../support/raw-tar.ts';
import { imageJobsFor, type RunningAgent, registerAgentViaApi, startAgent } from './agent-support.ts';

interface ImageBody {
  id: string;
  status: string;
  local_ref: string;
  docker_id: string | null;
  reason: string | null;
}

/**
 * The agent behind a pass-through proxy that, on cue, fails a request instead of forwarding it: a
 * fault in front of the real agent, since a real agent cannot be made to go silent on one call.
 */
async function faultyFront(target: string) {
  let fault: ((method: string, path: string) => 'drop' | 'foreign-404' | undefined) | undefined;
  const server: Server = createServer((request, response) => {
    const injected = fault?.(request.method ?? '', request.url ?? '');
    if (injected === 'drop') return void request.socket.destroy();
    if (injected === 'foreign-404') {
      // A 404 that is not the engine's (a wrong route, a proxy's page): not an answer about the image.
      response.writeHead(404, { 'content-type': 'text/html' });
      return void response.end('<h1>Not Found</h1>');
    }
    const upstream = httpRequest(
      new URL(request.url ?? '/', target),
      { method: request.method, headers: request.headers },
      (answer) => {
        response.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(response);
      },
    );
    upstream.on('error', () => response.destroy());
    request.pipe(upstream);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    set: (next: typeof fault) => {
      fault = next;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

describe('images: a built tag its agent has lost is built again; one it holds, or cannot be asked about, is not', () => {
  let t: TestApp;
  let daemons: Dockerd[] = [];
  let agents: RunningAgent[] = [];
  let front: Awaited<ReturnType<typeof faultyFront>>;
  let imageJobs: ImageBuildJobs | undefined;
  let admin: SignedInUser;
  let operator: SignedInUser;
  let member: SignedInUser;
  let otherAdmin: SignedInUser;
  let base: string;
  let agentId: string;
  let otherAgentId: string;
  let docker: Docker;
  let otherDocker: Docker;

  beforeAll(async () => {
    // Two hosts: this tenant's agent (behind the faulty front) and another tenant's, on its own engine.
    daemons = await Promise.all([startDockerd(), startDockerd()]);
    const [mine, theirs] = daemons as [Dockerd, Dockerd];
    base = await importBaseImage(mine);
    await importBaseImage(theirs);
    docker = new Docker({ socketPath: mine.socket });
    otherDocker = new Docker({ socketPath: theirs.socket });
    // One agent at a time: each start compiles the CLI.
    agents = [await startAgent(mine)];
    agents.push(await startAgent(theirs));
    front = await faultyFront(agents[0]!.url);
    t = await testApp(freshPGlite);
    imageJobs = imageJobsFor(t);
    admin = await t.user({ role: 'admin' });
    operator = await t.user({ tenant: admin.tenantSlug, role: 'operator' });
    member = await t.user({ tenant: admin.tenantSlug, role: 'member' });
    otherAdmin = await t.user({ role: 'admin' });
    const register = async (user: SignedInUser, url: string, token: string) =>
      (await registerAgentViaApi(t, user, { url, token }, { name: 'builder' })).id;
    agentId = await register(admin, front.url, agents[0]!.token);
    otherAgentId = await register(otherAdmin, agents[1]!.url, agents[1]!.token);
  }, 300_000);
  afterAll(async () => {
    await imageJobs?.stop(1000);
    await front?.close();
    await Promise.all(agents.map((a) => a.dispose()));
    await Promise.all(daemons.map((d) => d.stop()));
    await t?.dispose();
  }, 120_000);

  const as = (user: SignedInUser, path: string, init: RequestInit & { json?: unknown } = {}) =>
    t.request(path, { token: user.token, tenant: user.tenantSlug, ...init });
  const build = (user: SignedInUser, agent: string, ref: string, step = crypto.randomUUID()) => {
    const [name, tag] = ref.split(':') as [string, string];
    return as(user, `/v1/images/builds?agent_id=${agent}&name=${name}&tag=${tag}`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-tar' },
      body: rawTar([{ path: 'Dockerfile', content: `FROM ${base}\nRUN echo ${step} > /step\n` }]) as BodyInit,
    });
  };
  const read = async (user: SignedInUser, id: string) =>
    (await (await as(user, `/v1/images/${id}`)).json()) as ImageBody;
  const builtImage = async (user: SignedInUser, answer: Response) => {
    expect(answer.status, await answer.clone().text()).toBe(202);
    const { id } = (await answer.json()) as ImageBody;
    await expect
      .poll(async () => (await read(user, id)).status, { timeout: 120_000, interval: 250 })
      .not.toBe('building');
    const image = await read(user, id);
    expect(image.status, image.reason ?? '').toBe('built');
    return image;
  };
  const problemOf = async (answer: Response) => {
    expect(answer.headers.get('content-type')).toContain('application/problem+json');
    return (await answer.json()) as { rule?: string; detail: string };
  };
  const imagesStream = (user: SignedInUser) => t.store.readStream(`workspaces.Images-${user.tenantId}`);

  it('builds a tag again once its agent’s engine lost the image: the old entry is `lost`, the new one builds; deleting the lost one leaves the new image', async () => {
    const first = await builtImage(operator, await build(operator, agentId, 'team/kept:1'));
    // Another tenant's agent holds the same tag on its own host.
    const theirs = await builtImage(otherAdmin, await build(otherAdmin, otherAgentId, 'team/kept:1'));
    // While the agent holds it, building it again is refused as before.
    expect((await build(operator, agentId, 'team/kept:1')).status).toBe(409);

    await docker.getImage('team/kept:1').remove();

    // A lower role cannot make Warden find it lost (nor build): 403, nothing appended.
    const before = (await imagesStream(admin)).length;
    expect((await build(member, agentId, 'team/kept:1')).status).toBe(403);
    expect((await imagesStream(admin)).length).toBe(before);
    expect((await read(admin, first.id)).status).toBe('built');

    const again = await builtImage(operator, await build(operator, agentId, 'team/kept:1'));
    expect(again.id).not.toBe(first.id);
    expect(await read(operator, first.id)).toMatchObject({ status: 'lost' });
    expect((await read(operator, first.id)).reason).toContain('team/kept:1');
    const listed = (await (await as(operator, '/v1/images')).json()) as { items: ImageBody[] };
    expect(listed.items.filter((i) => i.local_ref === 'team/kept:1').map((i) => [i.id, i.status])).toEqual([
      [again.id, 'built'],
      [first.id, 'lost'],
    ]);
    expect((await docker.getImage('team/kept:1').inspect()).Id).toBe(again.docker_id);
    // Found lost and built again in one decision: the two events are appended together.
    const events = await imagesStream(admin);
    const lost = events.findIndex((e) => e.type === 'ImageLost');
    expect(events[lost]?.data).toMatchObject({ imageId: first.id });
    expect(events[lost + 1]).toMatchObject({ type: 'ImageBuildRequested', data: { imageId: again.id } });

    // The other tenant's entry and image are untouched; its agent still holds the tag: refused.
    expect((await read(otherAdmin, theirs.id)).status).toBe('built');
    expect((await otherDocker.getImage('team/kept:1').inspect()).Id).toBe(theirs.docker_id);
    expect((await build(otherAdmin, otherAgentId, 'team/kept:1')).status).toBe(409);
    // Nor can it reach this tenant's agent or images.
    expect((await build(otherAdmin, agentId, 'team/kept:1')).status).toBe(404);
    expect((await as(otherAdmin, `/v1/images/${first.id}`)).status).toBe(404);

    // Deleting the lost entry removes nothing the new build owns: its local tag stays on the agent.
    expect((await as(admin, `/v1/images/${first.id}`, { method: 'DELETE' })).status).toBe(204);
    expect((await docker.getImage('team/kept:1').inspect()).Id).toBe(again.docker_id);
    expect((await read(operator, again.id)).status).toBe('built');
  }, 600_000);

  it('two builds of a lost tag asked for at once: exactly one is taken, the other is 409 tag_in_use', async () => {
    const first = await builtImage(operator, await build(operator, agentId, 'team/twice:1'));
    await docker.getImage('team/twice:1').remove();
    const answers = await Promise.all([0, 1].map(() => build(operator, agentId, 'team/twice:1')));
    expect(answers.map((a) => a.status).sort()).toEqual([202, 409]);
    expect((await problemOf(answers.find((a) => a.status === 409)!)).rule).toBe('tag_in_use');
    await builtImage(operator, answers.find((a) => a.status === 202)!);
    expect((await read(operator, first.id)).status).toBe('lost');
    const lost = (await imagesStream(admin)).filter(
      (e) => e.type === 'ImageLost' && (e.data as { imageId: string }).imageId === first.id,
    );
    expect(lost).toHaveLength(1);
  }, 600_000);

  it('keeps refusing (409 tag_in_use, saying why) when the agent cannot be asked whether it still holds the tag', async () => {
    const first = await builtImage(operator, await build(operator, agentId, 'team/silent:1'));
    await docker.getImage('team/silent:1').remove();
    const inspect = `/v1/images/${encodeURIComponent('team/silent:1')}`;
    // The agent answers the first look (while the context streams), then goes silent, or something
    // else answers 404 in its place: neither says the engine lost the image.
    for (const fault of ['drop', 'foreign-404'] as const) {
      let looks = 0;
      front.set((method, path) => (method === 'GET' && path === inspect && ++looks > 1 ? fault : undefined));
      const refused = await build(operator, agentId, 'team/silent:1');
      expect({ fault, status: refused.status }).toEqual({ fault, status: 409 });
      const problem = await problemOf(refused);
      expect(problem.rule).toBe('tag_in_use');
      expect(problem.detail).toMatch(/could not be asked/);
      expect((await read(operator, first.id)).status).toBe('built');
    }
    front.set(undefined);
    await builtImage(operator, await build(operator, agentId, 'team/silent:1'));
    expect((await read(operator, first.id)).status).toBe('lost');
  }, 600_000);
});
