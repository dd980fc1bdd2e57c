import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, request as httpRequest } from 'node:http';
import { Validator } from '@seriousme/openapi-schema-validator';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AgentCallError, agentClient, enrolAgent, signRequest } from '../../src/workspaces/index.ts';
import { runWarden } from '../support/cli.ts';
import { type Dockerd, importBaseImage, startDockerd } from '../support/docker.ts';
import { type RunningAgent, startAgent } from './agent-support.ts';

const httpd = ['/bin/busybox', 'httpd', '-f', '-p', '8080', '-h', '/www'];

function keyBytes(key: string): Uint8Array {
  return Uint8Array.from(atob(key.replace(/-/g, '+').replace(/_/g, '/')), (c) => c.charCodeAt(0));
}

describe('warden agent: a real agent process driving a real dockerd', () => {
  let daemon: Dockerd;
  let agent: RunningAgent;
  let image: string;
  let key: string;

  beforeAll(async () => {
    daemon = await startDockerd();
    [image, agent] = await Promise.all([importBaseImage(daemon), startAgent(daemon)]);
  });
  afterAll(async () => {
    await agent?.dispose();
    await daemon?.stop();
  });

  it('exchanges the enrolment token once: a wrong token is 401, a second exchange 409', async () => {
    await expect(enrolAgent(agent.url, 'not-the-token-at-all')).rejects.toMatchObject({ status: 401 });
    const enrolled = await enrolAgent(agent.url, agent.token);
    key = enrolled.key;
    expect(keyBytes(key)).toHaveLength(32);
    await expect(enrolAgent(agent.url, agent.token)).rejects.toMatchObject({ status: 409 });
  });

  it('answers health and host statistics to signed calls', async () => {
    const client = agentClient({ url: agent.url, key });
    expect(await client.health()).toMatchObject({ status: 'ok', docker: 'up' });
    const stats = await client.system();
    expect(stats.cpu.cores).toBeGreaterThan(0);
    expect(stats.memory.total_bytes).toBeGreaterThan(0);
    expect(stats.disk.total_bytes).toBeGreaterThan(0);
    expect(stats.containers.images).toBeGreaterThanOrEqual(1);
  });

  it('creates, starts, inspects, lists, reports ports and logs, stops and deletes a container', async () => {
    const client = agentClient({ url: agent.url, key });
    const name = `ws-${crypto.randomUUID()}`;
    const created = await client.create({
      name,
      image,
      cmd: httpd,
      ports: [8080],
      cpus: 0.5,
      memory_mb: 64,
      labels: { 'warden.workspace': name },
    });
    expect(created).toMatchObject({ name, created: true });
    // A retried create finds the container by its name instead of making a second.
    const again = await client.create({ name, image, cmd: httpd, ports: [8080] });
    expect(again).toEqual({ id: created.id, name, created: false });

    const started = await client.start(name);
    expect(started.running).toBe(true);
    const ports = await client.ports(name);
    expect(ports).toEqual([{ container_port: 8080, host_ip: '127.0.0.1', host_port: expect.any(Number) }]);
    const page = await fetch(`http://127.0.0.1:${ports[0]?.host_port}/`);
    expect(await page.text()).toBe('workspace\n');

    const listed = await client.list([`warden.workspace=${name}`]);
    expect(listed.items.map((c) => c.id)).toEqual([created.id]);
    expect((await client.inspect(name)).labels).toMatchObject({ 'warden.managed': 'true' });
    expect(typeof (await client.logs(name))).toBe('string');

    expect((await client.stop(name)).running).toBe(false);
    expect(await client.remove(name)).toBe(true);
    expect(await client.remove(name)).toBe(false);
    await expect(client.inspect(name)).rejects.toMatchObject({ status: 404 });
  });

  it('keeps a workspace’s data folder while its container may still run: a remove Docker did not do deletes nothing', async () => {
    // The real Docker behind a proxy that fails DELETEs on cue (as a daemon in trouble would, 500): a
    // fault injected in front of the real thing, since a real daemon cannot be made to fail on cue.
    let failDeletes = true;
    const socket = `${agent.workDir}/failing-docker.sock`;
    const proxy = createServer((request, response) => {
      if (request.method === 'DELETE' && failDeletes) {
        response.writeHead(500, { 'content-type': 'application/json' });
        response.end(JSON.stringify({ message: 'injected failure' }));
        return;
      }
      const upstream = httpRequest(
        { socketPath: daemon.socket, method: request.method, path: request.url, headers: request.headers },
        (answer) => {
          response.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.pipe(response);
        },
      );
      upstream.on('error', () => response.destroy());
      request.pipe(upstream);
    });
    await new Promise<void>((resolve) => proxy.listen(socket, resolve));
    const failing = await startAgent(daemon, { WARDEN_AGENT_DOCKER_SOCKET: socket });
    try {
      const client = agentClient({
        url: failing.url,
        key: (await enrolAgent(failing.url, failing.token)).key,
      });
      const name = `warden-ws-${crypto.randomUUID()}`;
      await client.create({
        name,
        image,
        cmd: httpd,
        ports: [8080],
        labels: { 'warden.workspace': name.slice(10) },
      });
      const data = `${failing.workDir}/workspaces/${name.slice(10)}/data`;
      writeFileSync(`${data}/kept.txt`, 'kept');
      await expect(client.remove(name, { volumes: true })).rejects.toBeInstanceOf(AgentCallError);
      expect(readFileSync(`${data}/kept.txt`, 'utf8')).toBe('kept');
      // Removed, and then gone (404 from Docker): the folder goes with it, and stays gone when a
      // deprovisioning step is retried.
      failDeletes = false;
      expect(await client.remove(name, { volumes: true })).toBe(true);
      expect(existsSync(`${failing.workDir}/workspaces/${name.slice(10)}`)).toBe(false);
      mkdirSync(data, { recursive: true });
      expect(await client.remove(name, { volumes: true })).toBe(false);
      expect(existsSync(`${failing.workDir}/workspaces/${name.slice(10)}`)).toBe(false);
    } finally {
      await failing.dispose();
      await new Promise((resolve) => proxy.close(resolve));
    }
  });

  it('tells whether its host holds an image (a reference with "/" and ":" in the path), 400 for a bad one', async () => {
    const client = agentClient({ url: agent.url, key });
    const found = await client.image(image);
    expect(found).toMatchObject({ ref: image, tags: [image] });
    expect(found?.id).toMatch(/^sha256:/);
    expect(await client.image('no-such/image:9')).toBeUndefined();
    const bad = await client.call('GET', `/v1/images/${encodeURIComponent('UPPER/Case')}`);
    expect(bad.status).toBe(400);
    expect(await bad.text()).toContain('ref');
    const unsigned = await fetch(`${agent.url}/v1/images/${encodeURIComponent(image)}`);
    expect(unsigned.status).toBe(401);
  });

  it('names an unknown image in a 404 and creates nothing', async () => {
    const client = agentClient({ url: agent.url, key });
    const name = `ws-${crypto.randomUUID()}`;
    const refused = await client.create({ name, image: 'no-such/image:9' }).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(AgentCallError);
    expect(refused).toMatchObject({ status: 404, message: expect.stringContaining('no-such/image:9') });
    await expect(client.inspect(name)).rejects.toMatchObject({ status: 404 });
  });

  it('refuses unsigned, badly signed, stale and replayed requests with 401 and does nothing', async () => {
    const client = agentClient({ url: agent.url, key });
    const bytes = keyBytes(key);
    const name = `ws-${crypto.randomUUID()}`;
    const body = JSON.stringify({ name, image, cmd: httpd });
    const send = (headers: Record<string, string>) =>
      fetch(`${agent.url}/v1/containers`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        body,
      });
    const signedAt = (timestamp: number, nonce: string, signingKey = bytes) => ({
      'x-warden-timestamp': String(timestamp),
      'x-warden-nonce': nonce,
      'x-warden-signature': signRequest(signingKey, {
        method: 'POST',
        target: '/v1/containers',
        body: new TextEncoder().encode(body),
        timestamp,
        nonce,
      }),
    });
    const now = Math.floor(Date.now() / 1000);
    const nonce = () => crypto.randomUUID().replaceAll('-', '');

    expect((await send({})).status).toBe(401);
    const wrongKey = crypto.getRandomValues(new Uint8Array(32));
    expect((await send(signedAt(now, nonce(), wrongKey))).status).toBe(401);
    const tampered = signedAt(now, nonce());
    const tamperedResponse = await fetch(`${agent.url}/v1/containers`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...tampered },
      body: body.replace(name, `${name}-other`),
    });
    expect(tamperedResponse.status).toBe(401);
    const stale = await send(signedAt(now - 600, nonce()));
    expect(stale.status).toBe(401);
    expect(((await stale.json()) as { type: string }).type).toContain('stale');
    await expect(client.inspect(name)).rejects.toMatchObject({ status: 404 });

    // The same signed request twice: the first creates, the replay is refused, even after the
    // container is gone (a replay must not bring it back).
    const once = signedAt(now, nonce());
    expect((await send(once)).status).toBe(201);
    expect(await client.remove(name)).toBe(true);
    const replayed = await send(once);
    expect(replayed.status).toBe(401);
    expect(((await replayed.json()) as { type: string }).type).toContain('replayed');
    await expect(client.inspect(name)).rejects.toMatchObject({ status: 404 });
  });

  it('keeps its key across a restart, and describes its API in a valid OpenAPI document', async () => {
    await agent.restart();
    const client = agentClient({ url: agent.url, key });
    expect(await client.health()).toMatchObject({ status: 'ok' });
    await expect(enrolAgent(agent.url, agent.token)).rejects.toMatchObject({ status: 409 });

    const document = (await (await fetch(`${agent.url}/openapi.json`)).json()) as {
      paths: Record<string, unknown>;
    };
    const result = await new Validator().validate(document as never);
    expect(result.errors ?? []).toEqual([]);
    expect(Object.keys(document.paths).sort()).toEqual([
      '/v1/containers',
      '/v1/containers/{ref}',
      '/v1/containers/{ref}/logs',
      '/v1/containers/{ref}/ports',
      '/v1/containers/{ref}/start',
      '/v1/containers/{ref}/stop',
      '/v1/enrol',
      '/v1/health',
      '/v1/images/build',
      '/v1/images/contexts/{id}',
      '/v1/images/push',
      '/v1/images/{ref}',
      '/v1/store/uploads',
      '/v1/store/uploads/{id}',
      '/v1/store/uploads/{id}/complete',
      '/v1/system',
    ]);
  });
});

describe('warden agent: configuration checked at start-up', () => {
  it('names every bad value and exits 2', async () => {
    const root = `/tmp/wa-bad-${crypto.randomUUID().slice(0, 8)}`;
    mkdirSync(root);
    writeFileSync(`${root}/not-a-folder`, '');
    const run = runWarden(['agent'], {
      WARDEN_AGENT_PORT: '7070',
      WARDEN_AGENT_DOCKER_SOCKET: `${root}/no-docker.sock`,
      WARDEN_AGENT_WORK_DIR: `${root}/not-a-folder`,
      WARDEN_AGENT_NGINX_CONF: `${root}/missing/nginx.conf`,
      WARDEN_AGENT_ENROLMENT_TOKEN: 'a-long-enough-enrolment-token',
    });
    expect(await run.exited).toBe(2);
    const err = run.err();
    expect(err).toContain('WARDEN_AGENT_DOCKER_SOCKET');
    expect(err).toContain('WARDEN_AGENT_WORK_DIR');
    expect(err).toContain('is not a folder');
    expect(err).toContain('WARDEN_AGENT_NGINX_CONF');

    const syntax = runWarden(['agent'], {
      WARDEN_AGENT_PORT: '70000',
      WARDEN_AGENT_WORK_DIR: root,
      WARDEN_AGENT_ENROLMENT_TOKEN: 'short',
      WARDEN_AGENT_PUBLISH_HOST: 'not-an-address',
    });
    expect(await syntax.exited).toBe(2);
    for (const name of ['WARDEN_AGENT_PORT', 'WARDEN_AGENT_ENROLMENT_TOKEN', 'WARDEN_AGENT_PUBLISH_HOST']) {
      expect(syntax.err()).toContain(name);
    }
    rmSync(root, { recursive: true, force: true });
  });
});
