import Docker from 'dockerode';
import { afterAll, beforeAll, expect } from 'vitest';
import type { ImageBuildJobs } from '../../src/processes/workspaces/index.ts';
import { type SignedInUser, type TestApp, testApp } from '../support/app.ts';
import { freshPGlite } from '../support/databases.ts';
import { type Dockerd, importBaseImage, startDockerd } from '../support/docker.ts';
import { imageJobsFor, type RunningAgent, registerAgentViaApi, startAgent } from './agent-support.ts';

/** What the image tests read of an image (more fields as each test needs them). */
export interface BuiltImage {
  id: string;
  status: string;
  reason: string | null;
}

/** Everything {@link oneAgentBuilder} starts, set once its `beforeAll` ran. */
export interface ImageBuilderState {
  t: TestApp;
  daemon: Dockerd;
  docker: Docker;
  agent: RunningAgent;
  imageJobs: ImageBuildJobs;
  /** The local base image builds start `FROM` (no image can be pulled here). */
  base: string;
  admin: SignedInUser;
  /** The tenant's operator: who builds. */
  operator: SignedInUser;
  agentId: string;
}

/**
 * One dockerd holding the base image, one agent an admin registered, a Warden on PGlite with an image
 * runner: started before the describe block's tests (call it inside one), stopped after them. Its
 * helpers build as the tenant's operator, read as its admin, and wait for a build's end.
 */
export function oneAgentBuilder() {
  const state = {} as ImageBuilderState;
  beforeAll(async () => {
    state.daemon = await startDockerd();
    state.base = await importBaseImage(state.daemon);
    state.docker = new Docker({ socketPath: state.daemon.socket });
    state.agent = await startAgent(state.daemon);
    state.t = await testApp(freshPGlite);
    state.imageJobs = imageJobsFor(state.t);
    state.admin = await state.t.user({ role: 'admin' });
    state.operator = await state.t.user({ tenant: state.admin.tenantSlug, role: 'operator' });
    state.agentId = (await registerAgentViaApi(state.t, state.admin, state.agent, { name: 'builder' })).id;
  }, 300_000);
  afterAll(async () => {
    await state.imageJobs?.stop(1000);
    await state.agent?.dispose();
    await state.daemon?.stop();
    await state.t?.dispose();
  }, 120_000);

  const as = (user: SignedInUser, path: string, init: RequestInit & { json?: unknown } = {}) =>
    state.t.request(path, { token: user.token, tenant: user.tenantSlug, ...init });
  /** The operator's build on the agent: `query` after `agent_id` (a query string, or pairs to encode). */
  const build = (query: string | [string, string][], body: Uint8Array) =>
    as(
      state.operator,
      `/v1/images/builds?agent_id=${state.agentId}&${typeof query === 'string' ? query : new URLSearchParams(query)}`,
      { method: 'POST', headers: { 'content-type': 'application/x-tar' }, body: body as BodyInit },
    );
  const read = async <Image extends BuiltImage = BuiltImage>(id: string) =>
    (await (await as(state.admin, `/v1/images/${id}`)).json()) as Image;
  /** The build's end: its image and its whole log. */
  const ended = async <Image extends BuiltImage = BuiltImage>(id: string) => {
    await expect
      .poll(async () => (await read(id)).status, { timeout: 120_000, interval: 250 })
      .not.toBe('building');
    const log = await (await as(state.admin, `/v1/images/${id}/log`)).text();
    return { image: await read<Image>(id), log };
  };
  return { state, as, build, read, ended };
}
