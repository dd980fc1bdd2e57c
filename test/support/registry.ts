import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import bcrypt from 'bcryptjs';
import { freePort, until } from './cli.ts';

/**
 * Debian's docker-registry (/usr/bin/docker-registry) on a free loopback port with its own config,
 * filesystem storage in a temporary folder and, given a user, htpasswd (bcrypt) basic auth. dockerd
 * takes 127.0.0.0/8 registries as insecure, so plain HTTP works.
 */
export async function startRegistry(
  auth?: { user: string; password: string },
  options: { deleteEnabled?: boolean } = {},
) {
  const dir = mkdtempSync('/tmp/wreg-');
  const port = await freePort();
  if (auth) writeFileSync(join(dir, 'htpasswd'), `${auth.user}:${bcrypt.hashSync(auth.password, 8)}\n`);
  writeFileSync(
    join(dir, 'config.yml'),
    [
      'version: 0.1',
      'log:',
      '  level: warn',
      'storage:',
      '  filesystem:',
      `    rootdirectory: ${join(dir, 'data')}`,
      '  delete:',
      `    enabled: ${options.deleteEnabled ?? true}`,
      'http:',
      `  addr: 127.0.0.1:${port}`,
      ...(auth
        ? ['auth:', '  htpasswd:', '    realm: warden-test', `    path: ${join(dir, 'htpasswd')}`]
        : []),
      '',
    ].join('\n'),
  );
  const child: ChildProcess = spawn('/usr/bin/docker-registry', ['serve', join(dir, 'config.yml')], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let err = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    err += chunk.toString();
  });
  const url = `http://127.0.0.1:${port}`;
  await until(
    () =>
      fetch(`${url}/v2/`).then(
        async (r) => {
          await r.body?.cancel();
          return r.status === (auth ? 401 : 200);
        },
        () => false,
      ),
    child,
    60_000,
  ).catch((error: unknown) => {
    throw new Error(`the registry did not start: ${err}`, { cause: error });
  });
  const headers: Record<string, string> = auth
    ? { authorization: `Basic ${Buffer.from(`${auth.user}:${auth.password}`).toString('base64')}` }
    : {};
  return {
    url,
    host: `127.0.0.1:${port}`,
    /** The status of a `HEAD` of the manifest `name:tag` (404 once deleted). */
    manifest: async (name: string, tag: string) => {
      const answer = await fetch(`${url}/v2/${name}/manifests/${tag}`, {
        method: 'HEAD',
        headers: {
          ...headers,
          accept:
            'application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json',
        },
      });
      return answer.status;
    },
    tags: async (name: string) => {
      const answer = await fetch(`${url}/v2/${name}/tags/list`, { headers });
      return { status: answer.status, body: (await answer.json()) as { tags?: string[] } };
    },
    async stop() {
      child.kill('SIGTERM');
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
