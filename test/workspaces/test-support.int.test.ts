import { writeFileSync } from 'node:fs';
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import Docker from 'dockerode';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Dockerd, importBaseImage, type Nginx, startDockerd, startNginx } from '../support/docker.ts';

describe('workspace test support: a private dockerd, the busybox base image and a private nginx', () => {
  let daemon: Dockerd;
  let nginx: Nginx;
  let image: string;

  beforeAll(async () => {
    [daemon, nginx] = await Promise.all([startDockerd(), startNginx()]);
    image = await importBaseImage(daemon);
  });
  afterAll(async () => {
    await Promise.all([daemon?.stop(), nginx?.stop()]);
  });

  it('runs the base image serving HTTP on a loopback port, reached through nginx by path', async () => {
    const docker = new Docker({ socketPath: daemon.socket });
    const container = await docker.createContainer({
      Image: image,
      Cmd: ['/bin/busybox', 'httpd', '-f', '-p', '8080', '-h', '/www'],
      ExposedPorts: { '8080/tcp': {} },
      HostConfig: { PortBindings: { '8080/tcp': [{ HostIp: '127.0.0.1', HostPort: '' }] } },
    });
    await container.start();
    const info = await container.inspect();
    const hostPort = info.NetworkSettings.Ports['8080/tcp']?.[0]?.HostPort;
    expect(hostPort).toMatch(/^\d+$/);
    // docker-proxy publishes the port before httpd inside listens: until then a connection is reset.
    await expect
      .poll(
        async () => {
          try {
            return await (await fetch(`http://127.0.0.1:${hostPort}/`)).text();
          } catch {
            return 'not listening yet';
          }
        },
        { timeout: 10_000 },
      )
      .toBe('workspace\n');

    expect((await fetch(`${nginx.url}/`)).status).toBe(404);
    writeFileSync(
      nginx.routes,
      `server { listen 127.0.0.1:${nginx.port}; location /u/someone/ { proxy_pass http://127.0.0.1:${hostPort}/; } }\n`,
    );
    nginx.reload();
    // A reload is graceful: until the old workers finish, a kept-alive connection to one of them
    // still answers with the old configuration (a CI run saw 200 and then a 404 from an old worker).
    // So wait until the route answers with the page itself, on a fresh connection each time.
    await expect
      .poll(
        async () => (await fetch(`${nginx.url}/u/someone/`, { headers: { connection: 'close' } })).text(),
        {
          timeout: 5_000,
        },
      )
      .toBe('workspace\n');
    await container.remove({ force: true });
  });

  it('tells when a reload is over: settled() waits while an old worker still serves a request', async () => {
    // An upstream that holds its answer until told: the old worker stays alive serving it.
    let release: (() => void) | undefined;
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    let arrived: (() => void) | undefined;
    const asked = new Promise<void>((resolve) => {
      arrived = resolve;
    });
    const upstream = createServer((_req, res: ServerResponse) => {
      arrived?.();
      void held.then(() => res.end('slow\n'));
    });
    await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
    const upstreamPort = (upstream.address() as AddressInfo).port;
    try {
      const route = (answer: string) =>
        `server { listen 127.0.0.1:${nginx.port}; location /slow/ { proxy_pass http://127.0.0.1:${upstreamPort}/; } location /which { return 200 '${answer}'; } }\n`;
      /** Until a fresh connection is answered from the routes that say `answer`. */
      const sees = (answer: string) =>
        expect
          .poll(
            async () => (await fetch(`${nginx.url}/which`, { headers: { connection: 'close' } })).text(),
            { timeout: 10_000 },
          )
          .toBe(answer);
      writeFileSync(nginx.routes, route('first'));
      nginx.reload();
      await sees('first');
      await nginx.settled();
      const slow = fetch(`${nginx.url}/slow/`).then((r) => r.text());
      await asked; // the worker has the request open at the upstream
      writeFileSync(nginx.routes, route('second'));
      nginx.reload();
      await sees('second');
      let settled = false;
      const settling = nginx.settled().then(() => {
        settled = true;
      });
      await new Promise((r) => setTimeout(r, 300));
      expect(settled).toBe(false);
      release?.();
      expect(await slow).toBe('slow\n');
      await settling;
      // From now on every new connection gets the new routes.
      for (let i = 0; i < 20; i += 1) {
        const r = await fetch(`${nginx.url}/which`, { headers: { connection: 'close' } });
        expect(await r.text()).toBe('second');
      }
    } finally {
      release?.();
      await new Promise((resolve) => upstream.close(resolve));
    }
  });
});
