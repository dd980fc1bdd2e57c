import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  changePackage,
  defaultPolicy,
  packageIdFor,
  packageStreamId,
  requestStreamId,
} from '../../src/commands/packages/index.ts';
import { processContext } from '../../src/processes/index.ts';
import type { Job } from '../../src/processes/jobs/queue.ts';
import { packagePipeline } from '../../src/processes/package-pipeline/process.ts';
import { stageDeps } from '../../src/processes/package-pipeline/runtime.ts';
import {
  processPackage,
  publishPackage,
  recordFailure,
} from '../../src/processes/package-pipeline/stages.ts';
import { type TestApp, testApp } from '../support/app.ts';
import { freshPGlite } from '../support/databases.ts';
import { publishFixture } from '../support/fixture-packages.ts';
import { type Registry, startVerdaccio } from '../support/verdaccio.ts';

describe('publishing exactly once', () => {
  let t: TestApp;
  let upstream: Registry;
  let target: Registry;
  const signal = new AbortController().signal;

  beforeAll(async () => {
    [upstream, target] = await Promise.all([startVerdaccio(), startVerdaccio()]);
    t = await testApp(freshPGlite, {
      env: {
        WARDEN_UPSTREAM_REGISTRY: upstream.url,
        WARDEN_TARGET_REGISTRY: target.url,
        WARDEN_TARGET_REGISTRY_TOKEN: target.token,
      },
    });
  }, 60_000);
  afterAll(async () => {
    await t?.dispose();
    await Promise.all([upstream?.stop(), target?.stop()]);
  });

  /** Submits one package and drives it (by hand, no worker) to `approved`; returns its publish job. */
  async function approved(name: string): Promise<Job> {
    const { integrity } = await publishFixture(upstream, { name, version: '1.0.0' });
    const user = await t.user({ role: 'member' });
    const res = await t.request('/v1/package-requests', {
      token: user.token,
      tenant: user.tenantSlug,
      json: {
        lockfileVersion: 3,
        packages: { '': {}, [`node_modules/${name}`]: { version: '1.0.0', integrity } },
      },
    });
    const { id } = (await res.json()) as { id: string };
    const [submitted] = await t.store.readStream(requestStreamId(id));
    await packagePipeline.handle(
      submitted!,
      processContext('packagePipeline', submitted!, {
        store: t.store,
        db: t.database.db as never,
        logger: console,
      }),
    );
    const subject = packageStreamId(await packageIdFor(user.tenantId, `${name}@1.0.0`));
    const job: Job = {
      id: `job-${name}`,
      queue: 'packages',
      kind: 'process',
      tenantId: user.tenantId,
      subject,
      payload: { spec: `${name}@1.0.0`, correlationId: id },
      attempts: 0,
    };
    await processPackage(stageDeps(t.config, t), job, signal);
    // No advisory data was imported: the scan could not run, so it waits for an approver (fail closed).
    expect((await types(job)).at(-1)).toBe('ApprovalRequired');
    await changePackage(
      t.store,
      user.tenantId,
      `${name}@1.0.0`,
      {
        type: 'Approve',
        by: user.userId,
        reason: 'test',
        policy: { ...defaultPolicy, version: 0 },
        at: new Date().toISOString(),
      },
      { metadata: { tenantId: user.tenantId } },
    );
    return { ...job, kind: 'publish' };
  }

  const types = async (job: Job) => (await t.store.readStream(job.subject)).map((e) => e.type);

  it('a worker that dies after the upload and before recording it: the next attempt records it once, as already present', async () => {
    const job = await approved('once-pkg');
    const deps = stageDeps(t.config, t);
    // The upload goes through, then the process "dies" before the event is appended.
    const dying = {
      ...deps,
      publisher: {
        publish: async (input: Parameters<NonNullable<typeof deps.publisher>['publish']>[0]) => {
          await deps.publisher!.publish(input);
          throw new Error('worker killed after the upload');
        },
      },
    };
    await expect(publishPackage(dying, job, signal)).rejects.toThrow('worker killed');
    expect((await types(job)).at(-1)).toBe('PackagePublishing');
    await publishPackage(deps, job, signal);
    await publishPackage(deps, job, signal); // a replayed job changes nothing
    const events = await t.store.readStream(job.subject);
    expect(events.filter((e) => e.type === 'PackagePublishing')).toHaveLength(1);
    const published = events.filter((e) => e.type === 'PackagePublished');
    expect(published).toHaveLength(1);
    expect(published[0]!.data).toMatchObject({ outcome: 'already_present' });
    const packument = (await (await fetch(`${target.url}/once-pkg`)).json()) as {
      versions: Record<string, { dist: { integrity: string } }>;
    };
    expect(Object.keys(packument.versions)).toEqual(['1.0.0']);
    expect(packument.versions['1.0.0']!.dist.integrity).toBe(
      (published[0]!.data as { integrity: string }).integrity,
    );
  });

  it('other bytes already in the target under that version are a conflict: the package fails, nothing is overwritten', async () => {
    const job = await approved('clash-pkg');
    await publishFixture(target, {
      name: 'clash-pkg',
      version: '1.0.0',
      packageJson: { description: 'someone else' },
    });
    const deps = stageDeps(t.config, t);
    const error = await publishPackage(deps, job, signal).then(
      () => undefined,
      (e: unknown) => e as Error & { code?: string; retryable?: boolean },
    );
    expect(error).toMatchObject({ code: 'conflict', retryable: false });
    await recordFailure(deps, job, error!, 1);
    const events = await t.store.readStream(job.subject);
    expect(events.at(-1)).toMatchObject({
      type: 'PackageFailed',
      data: { stage: 'publish', code: 'conflict', retryable: false },
    });
  });
});
