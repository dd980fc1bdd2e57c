import { readdirSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type Docker from 'dockerode';
import { beforeAll, describe, expect, it } from 'vitest';
import { AgentCallError, agentClient, agentKeys } from '../../src/workspaces/index.ts';
import type { TestApp } from '../support/app.ts';
import { rawTar } from '../support/raw-tar.ts';
import type { RunningAgent } from './agent-support.ts';
import { type BuiltImage, oneAgentBuilder } from './image-builder.ts';

interface ImageBody extends BuiltImage {
  local_ref: string;
  build_args: Record<string, string>;
  target: string | null;
  no_cache: boolean;
}

/**
 * What a build may ask of the engine beyond its context, as `docker build` takes it: build arguments
 * (`--build-arg`), the stage to build (`--target`), no cache (`--no-cache`). Real Docker, a real
 * agent, the base image made here.
 */
describe('image builds with build arguments, a target stage and no cache', () => {
  const fixture = oneAgentBuilder();
  const { state, ended } = fixture;
  const build = (query: [string, string][], dockerfile: string) =>
    fixture.build(query, rawTar([{ path: 'Dockerfile', content: dockerfile }]));
  let t: TestApp;
  let agent: RunningAgent;
  let base: string;
  let agentId: string;
  let docker: Docker;
  beforeAll(() => {
    ({ t, agent, base, agentId, docker } = state);
  });
  const history = async (ref: string) =>
    ((await docker.getImage(ref).history()) as Array<{ CreatedBy: string }>)
      .map((h) => h.CreatedBy)
      .join('\n');

  it('fills the Dockerfile’s ARGs with the build arguments and builds only the target stage; the image shows what it was built with', async () => {
    const dockerfile = [
      `FROM ${base} AS greet`,
      'ARG GREETING=unset',
      'ARG SECOND=unset',
      'RUN echo "greeting=[$GREETING] second=[$SECOND]" > /greeting && cat /greeting',
      `FROM ${base} AS final`,
      'RUN echo final-stage-marker > /final',
      '',
    ].join('\n');
    const answer = await build(
      [
        ['name', 'team/args'],
        ['tag', '1'],
        ['build_arg', 'GREETING=hello world'],
        ['build_arg', 'SECOND=a=b'],
        ['target', 'greet'],
      ],
      dockerfile,
    );
    expect(answer.status).toBe(202);
    const accepted = (await answer.json()) as ImageBody;
    expect(accepted).toMatchObject({
      build_args: { GREETING: 'hello world', SECOND: 'a=b' },
      target: 'greet',
      no_cache: false,
    });
    const { image, log } = await ended<ImageBody>(accepted.id);
    expect(image.status, image.reason ?? '').toBe('built');
    expect(log).toContain('greeting=[hello world] second=[a=b]');
    expect(log).not.toContain('final-stage-marker');
    const steps = await history(image.local_ref);
    expect(steps).toContain('GREETING=hello world');
    expect(steps).not.toContain('final-stage-marker');
    // The same Dockerfile without them: the defaults, and the last stage.
    const plain = await build(
      [
        ['name', 'team/args'],
        ['tag', '2'],
      ],
      dockerfile,
    );
    expect(plain.status).toBe(202);
    const defaults = await ended<ImageBody>(((await plain.json()) as ImageBody).id);
    expect(defaults.image).toMatchObject({ status: 'built', build_args: {}, target: null, no_cache: false });
    expect(await history(defaults.image.local_ref)).toContain('final-stage-marker');
  }, 300_000);

  it('builds every step again with no_cache=true; without it the same steps come from the cache', async () => {
    const dockerfile = `FROM ${base}\nRUN echo cache-probe-${crypto.randomUUID()} > /probe\n`;
    const once = async (tag: string, more: [string, string][] = []) => {
      const answer = await build([['name', 'team/cache'], ['tag', tag], ...more], dockerfile);
      expect(answer.status).toBe(202);
      const done = await ended<ImageBody>(((await answer.json()) as ImageBody).id);
      expect(done.image.status, done.image.reason ?? '').toBe('built');
      return done;
    };
    await once('1');
    const cached = await once('2');
    expect(cached.log).toContain('Using cache');
    const fresh = await once('3', [['no_cache', 'true']]);
    expect(fresh.image.no_cache).toBe(true);
    expect(fresh.log).not.toContain('Using cache');
  }, 300_000);

  it('refuses a build argument or target the engine would not take: 400 naming the field, nothing staged or recorded', async () => {
    const before = (await t.store.readAll()).length;
    // The agent's staged contexts (none is staged: the query is refused before the body is read).
    const staged = () => {
      try {
        return readdirSync(join(agent.workDir, 'contexts'));
      } catch {
        return [];
      }
    };
    const stagedBefore = staged();
    const cases: [[string, string][], string][] = [
      [[['build_arg', 'NOEQUALS']], 'query.build_arg'],
      [[['build_arg', '1ST=x']], 'query.build_arg'],
      [[['build_arg', 'A-B=x']], 'query.build_arg'],
      [[['build_arg', '__proto__=x']], 'query.build_arg'],
      [[['build_arg', `A=${'x'.repeat(4097)}`]], 'query.build_arg'],
      [[['build_arg', 'A=nul\u0000']], 'query.build_arg'],
      [
        [
          ['build_arg', 'A=1'],
          ['build_arg', 'A=2'],
        ],
        'query.build_arg.1',
      ],
      [
        [
          ['build_arg', 'OK=1'],
          ['build_arg', '=x'],
        ],
        'query.build_arg.1',
      ],
      [Array.from({ length: 65 }, (_, i): [string, string] => ['build_arg', `A${i}=x`]), 'query.build_arg'],
      [[['target', 'two words']], 'query.target'],
      [[['target', '-stage']], 'query.target'],
      [[['no_cache', 'maybe']], 'query.no_cache'],
    ];
    for (const [query, field] of cases) {
      const answer = await build([['name', 'team/refused'], ['tag', '1'], ...query], `FROM ${base}\n`);
      const label = JSON.stringify(query).slice(0, 120);
      expect(answer.status, label).toBe(400);
      expect(answer.headers.get('content-type'), label).toContain('application/problem+json');
      const problem = (await answer.json()) as { errors: Array<{ path: string }> };
      expect(
        problem.errors.some((e) => e.path === field || e.path.startsWith(`${field}.`)),
        `${label}: ${JSON.stringify(problem.errors)}`,
      ).toBe(true);
    }
    expect((await t.store.readAll()).length).toBe(before);
    expect(staged()).toEqual(stagedBefore);
  }, 300_000);

  it('a build argument cannot turn an ADD into a fetch from the agent host’s loopback: the variable ADD is refused, nothing fetched', async () => {
    const seen: string[] = [];
    const secret = `host-only-secret-${crypto.randomUUID()}`;
    const server: Server = createServer((req, res) => {
      seen.push(`${req.method} ${req.url}`);
      res.end(secret);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/secret`;
    try {
      const answer = await build(
        [
          ['name', 'team/fetch-by-arg'],
          ['tag', '1'],
          ['build_arg', `SOURCE=${url}`],
        ],
        `FROM ${base}\nARG SOURCE\nADD \${SOURCE} /secret\nRUN cat /secret\n`,
      );
      expect(answer.status).toBe(202);
      const { image, log } = await ended<ImageBody>(((await answer.json()) as ImageBody).id);
      expect(image.status).toBe('failed');
      expect(image.reason).toContain('ADD');
      expect(seen).toEqual([]);
      expect(log).not.toContain(secret);
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  }, 300_000);

  it('the agent checks them itself: a signed call with build arguments Warden would refuse gets 400, nothing built', async () => {
    const key = (await agentKeys(t.database.db as never, t.identity.sealer).get(agentId)) ?? '';
    const client = agentClient({ url: agent.url, key });
    const context = crypto.randomUUID();
    const staged = await client.stageContext(
      context,
      new Blob([rawTar([{ path: 'Dockerfile', content: `FROM ${base}\n` }]) as BlobPart]).stream(),
    );
    const ask = (options: object) =>
      client
        .buildImage(
          { context, sha256: staged.sha256, tag: 'team/forged:1', dockerfile: 'Dockerfile', ...options },
          () => undefined,
        )
        .then(
          () => 'built',
          (error: unknown) => (error instanceof AgentCallError ? error.status : String(error)),
        );
    expect(await ask({ buildArgs: { '1ST': 'x' } })).toBe(400);
    expect(await ask({ buildArgs: JSON.parse('{"__proto__":"x"}') })).toBe(400);
    expect(await ask({ target: 'two words' })).toBe(400);
    await expect(docker.getImage('team/forged:1').inspect()).rejects.toThrow();
    await client.removeContext(context);
  }, 120_000);
});
