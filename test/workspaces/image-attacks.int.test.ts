import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type Docker from 'dockerode';
import { beforeAll, describe, expect, it } from 'vitest';
import { deleteFromRegistry } from '../../src/workspaces/index.ts';
import type { SignedInUser, TestApp } from '../support/app.ts';
import { paxRecord, type RawEntry, rawTar } from '../support/raw-tar.ts';
import { type BuiltImage as ImageBody, oneAgentBuilder } from './image-builder.ts';

/** An HTTP server on loopback only, as a service of the agent's host no tenant should reach. */
async function loopbackService(answer: string) {
  const seen: string[] = [];
  const server: Server = createServer((req, res) => {
    seen.push(`${req.method} ${req.url}`);
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end(answer);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    seen,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

describe('images under attack: what an operator’s build or an admin’s registry may not reach', () => {
  const { state, build, ended, as } = oneAgentBuilder();
  let t: TestApp;
  let admin: SignedInUser;
  let operator: SignedInUser;
  let base: string;
  let docker: Docker;
  beforeAll(() => {
    ({ t, admin, operator, base, docker } = state);
  });
  const dockerfileTar = (dockerfile: string, more: RawEntry[] = []) =>
    rawTar([{ path: 'Dockerfile', content: dockerfile }, ...more]);

  it('an operator cannot build over a tag the agent already holds (the image workspaces run): 409, the tag untouched', async () => {
    const before = (await docker.getImage(base).inspect()).Id;
    const [name, tag] = base.split(':') as [string, string];
    const answer = await build(
      `name=${name}&tag=${tag}`,
      dockerfileTar(`FROM ${base}\nRUN echo planted-by-an-operator > /planted\n`),
    );
    if (answer.status === 202) await ended(((await answer.json()) as ImageBody).id);
    expect((await docker.getImage(base).inspect()).Id).toBe(before);
    expect(answer.status).toBe(409);
    expect(answer.headers.get('content-type')).toContain('application/problem+json');
  }, 240_000);

  it('refuses an image name that names a registry host (its local tag would stand in for a pushed ref): 400 on query.name', async () => {
    const answer = await build(
      'name=registry.example.com/team/editor&tag=1',
      dockerfileTar(`FROM ${base}\nRUN echo shadow > /shadow\n`),
    );
    if (answer.status === 202) await ended(((await answer.json()) as ImageBody).id);
    expect(answer.status).toBe(400);
    const problem = (await answer.json()) as { errors: Array<{ path: string }> };
    expect(problem.errors.map((e) => e.path)).toContain('query.name');
    await expect(docker.getImage('registry.example.com/team/editor:1').inspect()).rejects.toThrow();
  }, 240_000);

  it('refuses a name or tag with a `..`, `.` or empty path component, a stray separator or uppercase: 400 naming the field, nothing staged or recorded', async () => {
    const before = (await t.store.readAll()).length;
    const tar = dockerfileTar(`FROM ${base}\n`);
    const cases: [string, string][] = [
      ['name=team/..&tag=1', 'query.name'],
      ['name=../team&tag=1', 'query.name'],
      ['name=team/../app&tag=1', 'query.name'],
      ['name=team/./app&tag=1', 'query.name'],
      ['name=team//app&tag=1', 'query.name'],
      ['name=team/app-&tag=1', 'query.name'],
      ['name=.team/app&tag=1', 'query.name'],
      ['name=team/App&tag=1', 'query.name'],
      ['name=team/app&tag=..', 'query.tag'],
      ['name=team/app&tag=.hidden', 'query.tag'],
    ];
    for (const [query, field] of cases) {
      const answer = await build(query, tar);
      expect({ query, status: answer.status }).toEqual({ query, status: 400 });
      expect(answer.headers.get('content-type')).toContain('application/problem+json');
      const problem = (await answer.json()) as { errors: Array<{ path: string }> };
      expect(problem.errors.map((e) => e.path)).toContain(field);
    }
    // A workspace names its image by a whole reference: held to the same grammar.
    for (const image of [
      'team/../app:1',
      'registry.example.com/../../containers/x',
      'team/app:..',
      'Team/app:1',
    ]) {
      const answer = await as(operator, '/v1/workspaces', { method: 'POST', json: { image } });
      expect({ image, status: answer.status }).toEqual({ image, status: 400 });
      const problem = (await answer.json()) as { errors: Array<{ path: string }> };
      expect(problem.errors.map((e) => e.path)).toContain('image');
    }
    expect((await t.store.readAll()).length).toBe(before);
  });

  it('two builds of one tag asked for at once: exactly one is taken, the other is 409 tag_in_use, every time', async () => {
    for (let round = 0; round < 4; round++) {
      const tar = dockerfileTar(`FROM ${base}\nRUN echo round-${round}\n`);
      const answers = await Promise.all([0, 1].map(() => build(`name=team/race&tag=r${round}`, tar)));
      const statuses = answers.map((a) => a.status).sort();
      expect({ round, statuses }).toEqual({ round, statuses: [202, 409] });
      const refused = answers.find((a) => a.status === 409)!;
      expect(refused.headers.get('content-type')).toContain('application/problem+json');
      expect(((await refused.json()) as { rule?: string }).rule).toBe('tag_in_use');
      const taken = answers.find((a) => a.status === 202)!;
      const { image } = await ended(((await taken.json()) as ImageBody).id);
      expect(image.status).toBe('built');
    }
    const listed = (await (await as(admin, '/v1/images')).json()) as { items: Array<{ name: string }> };
    expect(listed.items.filter((i) => i.name === 'team/race')).toHaveLength(4);
  }, 300_000);

  it('a Dockerfile may not ADD a URL: the engine would fetch it from the agent host’s own loopback', async () => {
    const secret = `host-only-secret-${crypto.randomUUID()}`;
    const service = await loopbackService(secret);
    try {
      const answer = await build(
        'name=team/fetch&tag=1',
        dockerfileTar(`FROM ${base}\nADD ${service.url}/secret /secret\nRUN cat /secret\n`),
      );
      expect(answer.status).toBe(202);
      const { image, log } = await ended(((await answer.json()) as ImageBody).id);
      expect(service.seen).toEqual([]);
      expect(log).not.toContain(secret);
      expect(image.status).toBe('failed');
      expect(image.reason).toContain('ADD');
    } finally {
      await service.close();
    }
  }, 240_000);

  it('the Dockerfile the engine reads is the one checked: a later duplicate, a PAX or GNU long path, a link or a Dockerfile behind a linked folder are refused', async () => {
    const secret = `host-only-secret-${crypto.randomUUID()}`;
    const service = await loopbackService(secret);
    const benign = `FROM ${base}\nRUN echo benign\n`;
    const evil = `FROM ${base}\nADD ${service.url}/secret /secret\nRUN cat /secret\n`;
    const contexts: Record<string, { tar: Uint8Array; dockerfile?: string }> = {
      'a duplicate entry (the last one wins)': {
        tar: rawTar([
          { path: 'Dockerfile', content: benign },
          { path: 'Dockerfile', content: evil },
        ]),
      },
      'a PAX path naming the Dockerfile': {
        tar: rawTar([
          { path: 'Dockerfile', content: benign },
          { path: 'PaxHeaders/x', type: 'x', content: paxRecord('path', 'Dockerfile') },
          { path: 'innocent.txt', content: evil },
        ]),
      },
      'a GNU long name naming the Dockerfile': {
        tar: rawTar([
          { path: 'Dockerfile', content: benign },
          { path: '././@LongLink', type: 'L', content: 'Dockerfile\0' },
          { path: 'innocent.txt', content: evil },
        ]),
      },
      'a Dockerfile that is a symbolic link': {
        tar: rawTar([
          { path: 'evil.txt', content: evil },
          { path: 'Dockerfile', type: '2', linkpath: 'evil.txt' },
        ]),
      },
      'a Dockerfile behind a folder a later entry turns into a link': {
        dockerfile: 'sub/Dockerfile',
        tar: rawTar([
          { path: 'sub/', type: '5' },
          { path: 'sub/Dockerfile', content: benign },
          { path: 'other/', type: '5' },
          { path: 'other/Dockerfile', content: evil },
          { path: 'sub', type: '2', linkpath: 'other' },
        ]),
      },
    };
    try {
      const outcomes = await Promise.all(
        Object.entries(contexts).map(async ([what, context], i) => {
          const dockerfile = context.dockerfile ? `&dockerfile=${context.dockerfile}` : '';
          const answer = await build(`name=team/trick${i}&tag=1${dockerfile}`, context.tar);
          expect(answer.status).toBe(202);
          const { image, log } = await ended(((await answer.json()) as ImageBody).id);
          return { what, status: image.status, leaked: log.includes(secret) };
        }),
      );
      expect(service.seen).toEqual([]);
      expect(outcomes.filter((o) => o.leaked || o.status !== 'failed')).toEqual([]);
    } finally {
      await service.close();
    }
  }, 300_000);

  it('a registry URL is https, or http only on loopback, and never link-local or unspecified: 400 naming url', async () => {
    for (const url of [
      'http://registry.example.com',
      'http://169.254.169.254',
      'https://169.254.169.254',
      'https://0.0.0.0:5000',
      'https://[fe80::1]:5000',
    ]) {
      const answer = await as(admin, '/v1/images/registry', {
        method: 'PUT',
        json: { url, username: 'ci', password: 'pw' },
      });
      expect({ url, status: answer.status }).toEqual({ url, status: 400 });
      const problem = (await answer.json()) as { errors: Array<{ path: string }> };
      expect(problem.errors.map((e) => e.path)).toContain('url');
    }
    expect(
      (
        await as(admin, '/v1/images/registry', {
          method: 'PUT',
          json: { url: 'http://127.0.0.1:5000', username: 'ci', password: 'pw' },
        })
      ).status,
    ).toBe(200);
  });

  it('keeps the sealed password only while the registry’s origin is the same: a change of scheme drops it', async () => {
    const set = await as(admin, '/v1/images/registry', {
      method: 'PUT',
      json: { url: 'https://127.0.0.1:5443', username: 'ci', password: 'pw' },
    });
    expect(((await set.json()) as { password_set: boolean }).password_set).toBe(true);
    const downgraded = await as(admin, '/v1/images/registry', {
      method: 'PUT',
      json: { url: 'http://127.0.0.1:5443', username: 'ci' },
    });
    expect(downgraded.status).toBe(200);
    expect(((await downgraded.json()) as { password_set: boolean }).password_set).toBe(false);
  });

  it('deleting from a registry follows no redirect: another host never gets the DELETE', async () => {
    const elsewhere = await loopbackService('deleted');
    const registry = createServer((req, res) => {
      if (req.method === 'HEAD') {
        res.writeHead(200, { 'docker-content-digest': `sha256:${'a'.repeat(64)}` });
        res.end();
        return;
      }
      res.writeHead(307, { location: `${elsewhere.url}/internal/everything` });
      res.end();
    });
    await new Promise<void>((resolve) => registry.listen(0, '127.0.0.1', resolve));
    try {
      const outcome = await deleteFromRegistry(
        {
          url: `http://127.0.0.1:${(registry.address() as AddressInfo).port}`,
          username: 'ci',
          password: 'pw',
        },
        'team/app',
        '1',
      );
      expect(elsewhere.seen).toEqual([]);
      expect(outcome.outcome).toBe('kept');
    } finally {
      await new Promise<void>((resolve) => registry.close(() => resolve()));
      await elsewhere.close();
    }
  });
});
