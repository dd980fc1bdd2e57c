import { writeFileSync } from 'node:fs';
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
});
